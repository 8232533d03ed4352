"""Publishing: Autotune's Web API (projects, blueprints, themes) with builds to S3."""
