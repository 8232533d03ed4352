"""Local emulation of the AWS pieces Keyport runs on (see ``infra.local.gateway``)."""
