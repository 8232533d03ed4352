"""PynamoDB models of the publishing service (Autotune): users, groups, themes, blueprints, projects.

Ids are numbers from an atomic counter (``Counter``), as in Autotune. Everything unique (a slug per
kind, a user's email, the hash of an API key) is a ``Claim`` item written in the same transaction as
its owner. Every list the API offers is a Query of one index partition (or a few, merged); the list
indexes of projects project only what the list view and its filters read, never ``data`` or ``output``.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection

from chalicelib.aws import table_meta
from chalicelib.dynamo import Model

# Constant partitions: every item of a kind carries one in ``listed`` (the superuser's lists), and every
# item with a queued or running job carries JOB_SHARD in ``job_shard`` (the stuck-job sweep's index).
GROUP_LIST = "group"
THEME_LIST = "theme"
BLUEPRINT_LIST = "blueprint"
PROJECT_LIST = "project"
JOB_SHARD = "job"

# What a project list reads: the list view's attributes and the attributes its filters test.
PROJECT_LIST_ATTRIBUTES = [
    "slug",
    "title",
    "status",
    "type",
    "built",
    "user_id",
    "group_id",
    "theme_id",
    "blueprint_id",
    "blueprint_version",
    "preview_url",
    "publish_url",
    "published_at",
    "created_at",
    "data_updated_at",
    "search_text",
    "embed_height",
    "job_id",
    "job_deadline",
]


class Counter(Model):
    """The last id handed out for one kind (``user``, ``group``, ``theme``, ``blueprint``, ``project``)."""

    Meta = table_meta("publishing-counters")

    name = UnicodeAttribute(hash_key=True)
    value = NumberAttribute(default=0)


class Claim(Model):
    """A unique value and its owner, written and removed in the same transaction as the owner.

    Keys: ``slug|<kind>|<slug>``, ``email|<lowercased email>``, ``key|<SHA-256 of an API key>``.
    """

    Meta = table_meta("publishing-claims")

    key = UnicodeAttribute(hash_key=True)
    owner_id = NumberAttribute()
    created_at = NumberAttribute()


class User(Model):
    """A person or machine account; ``key_hash`` is the SHA-256 of its current API key."""

    Meta = table_meta("publishing-users")

    id = NumberAttribute(hash_key=True)
    lock_version = VersionAttribute()  # optimistic locking: a save fails if another write came first
    email = UnicodeAttribute()
    name = UnicodeAttribute()
    superuser = BooleanAttribute(default=False)
    key_hash = UnicodeAttribute()
    created_at = NumberAttribute()
    updated_at = NumberAttribute()


class AllGroups(GlobalSecondaryIndex["Group"]):
    class Meta:
        index_name = "all_groups"
        projection = AllProjection()

    listed = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class Group(Model):
    """A newsroom or team: themes belong to one, and users hold a role in it."""

    Meta = table_meta("publishing-groups")

    id = NumberAttribute(hash_key=True)
    lock_version = VersionAttribute()  # optimistic locking: a save fails if another write came first
    slug = UnicodeAttribute()
    name = UnicodeAttribute()
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    listed = UnicodeAttribute(default=GROUP_LIST)

    all_groups = AllGroups()


class MembersByGroup(GlobalSecondaryIndex["Membership"]):
    class Meta:
        index_name = "by_group"
        projection = AllProjection()

    group_id = NumberAttribute(hash_key=True)
    user_id = NumberAttribute(range_key=True)


class Membership(Model):
    """A user's role in a group: author, editor or designer."""

    Meta = table_meta("publishing-memberships")

    user_id = NumberAttribute(hash_key=True)
    group_id = NumberAttribute(range_key=True)
    role = UnicodeAttribute()
    created_at = NumberAttribute()
    updated_at = NumberAttribute()

    by_group = MembersByGroup()


class AllThemes(GlobalSecondaryIndex["Theme"]):
    class Meta:
        index_name = "all_themes"
        projection = AllProjection()

    listed = UnicodeAttribute(hash_key=True)
    updated_at = NumberAttribute(range_key=True)


class ThemesByGroup(GlobalSecondaryIndex["Theme"]):
    class Meta:
        index_name = "by_group"
        projection = AllProjection()

    group_id = NumberAttribute(hash_key=True)
    updated_at = NumberAttribute(range_key=True)


class Theme(Model):
    """A look for projects: data handed to every build (``theme_data``); it sets a project's group."""

    Meta = table_meta("publishing-themes")

    id = NumberAttribute(hash_key=True)
    lock_version = VersionAttribute()  # optimistic locking: a save fails if another write came first
    slug = UnicodeAttribute()
    title = UnicodeAttribute()
    group_id = NumberAttribute()
    status = UnicodeAttribute(default="ready")
    data = JSONAttribute(default=dict)
    original_data = JSONAttribute(default=dict)  # what reset restores
    search_text = UnicodeAttribute(default="")
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    listed = UnicodeAttribute(default=THEME_LIST)

    all_themes = AllThemes()
    by_group = ThemesByGroup()


class JobsByDeadline(GlobalSecondaryIndex["Blueprint"]):
    """Sparse: only items with a queued or running job, by the time it must have finished."""

    class Meta:
        index_name = "jobs"
        projection = IncludeProjection(["job_id"])

    job_shard = UnicodeAttribute(hash_key=True)
    job_deadline = NumberAttribute(range_key=True)


class AllBlueprints(GlobalSecondaryIndex["Blueprint"]):
    class Meta:
        index_name = "all_blueprints"
        projection = AllProjection()

    listed = UnicodeAttribute(hash_key=True)
    updated_at = NumberAttribute(range_key=True)


class Blueprint(Model):
    """A git repository of templates and an ``autotune-config.json``; ``version`` is the loaded commit."""

    Meta = table_meta("publishing-blueprints")

    id = NumberAttribute(hash_key=True)
    lock_version = VersionAttribute()  # optimistic locking: a save fails if another write came first
    slug = UnicodeAttribute()
    title = UnicodeAttribute()
    repo_url = UnicodeAttribute()
    thumb_url = UnicodeAttribute(null=True)
    type = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="new")
    mode = UnicodeAttribute(default="ready")
    config = JSONAttribute(null=True)
    version = UnicodeAttribute(null=True)
    error_message = UnicodeAttribute(null=True)
    output = UnicodeAttribute(null=True)
    search_text = UnicodeAttribute(default="")
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    listed = UnicodeAttribute(default=BLUEPRINT_LIST)
    # The queued or running repository update, if any (see builds.py).
    job_id = UnicodeAttribute(null=True)
    job_kind = UnicodeAttribute(null=True)
    job_started_at = NumberAttribute(null=True)
    job_deadline = NumberAttribute(null=True)
    job_shard = UnicodeAttribute(null=True)

    all_blueprints = AllBlueprints()
    jobs = JobsByDeadline()


class _ProjectListIndex:
    """Meta shared by the project list indexes: the list view's attributes only."""

    projection = IncludeProjection(PROJECT_LIST_ATTRIBUTES)


class AllProjects(GlobalSecondaryIndex["Project"]):
    class Meta(_ProjectListIndex):
        index_name = "all_projects"

    listed = UnicodeAttribute(hash_key=True)
    updated_at = NumberAttribute(range_key=True)


class ProjectsByGroup(GlobalSecondaryIndex["Project"]):
    class Meta(_ProjectListIndex):
        index_name = "by_group"

    group_id = NumberAttribute(hash_key=True)
    updated_at = NumberAttribute(range_key=True)


class ProjectsByUser(GlobalSecondaryIndex["Project"]):
    class Meta(_ProjectListIndex):
        index_name = "by_user"

    user_id = NumberAttribute(hash_key=True)
    updated_at = NumberAttribute(range_key=True)


class ProjectsByTheme(GlobalSecondaryIndex["Project"]):
    class Meta(_ProjectListIndex):
        index_name = "by_theme"

    theme_id = NumberAttribute(hash_key=True)
    updated_at = NumberAttribute(range_key=True)


class ProjectsByBlueprint(GlobalSecondaryIndex["Project"]):
    class Meta(_ProjectListIndex):
        index_name = "by_blueprint"

    blueprint_id = NumberAttribute(hash_key=True)
    updated_at = NumberAttribute(range_key=True)


class ProjectJobsByDeadline(GlobalSecondaryIndex["Project"]):
    """Sparse: only projects with a queued or running build, by the time it must have finished."""

    class Meta:
        index_name = "jobs"
        projection = IncludeProjection(["job_id"])

    job_shard = UnicodeAttribute(hash_key=True)
    job_deadline = NumberAttribute(range_key=True)


class Project(Model):
    """A blueprint filled with data and a theme, built to a preview and published."""

    Meta = table_meta("publishing-projects")

    id = NumberAttribute(hash_key=True)
    lock_version = VersionAttribute()  # optimistic locking: a save fails if another write came first
    slug = UnicodeAttribute()
    title = UnicodeAttribute()
    status = UnicodeAttribute(default="new")
    type = UnicodeAttribute(null=True)
    built = BooleanAttribute(default=False)
    user_id = NumberAttribute()
    group_id = NumberAttribute()
    theme_id = NumberAttribute()
    blueprint_id = NumberAttribute()
    blueprint_version = UnicodeAttribute(null=True)
    blueprint_config = JSONAttribute(null=True)
    embed_height = NumberAttribute(null=True)
    data = JSONAttribute(default=dict)
    preview_url = UnicodeAttribute(null=True)
    publish_url = UnicodeAttribute(null=True)
    published_at = NumberAttribute(null=True)
    error_message = UnicodeAttribute(null=True)
    output = UnicodeAttribute(null=True)
    search_text = UnicodeAttribute(default="")
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    data_updated_at = NumberAttribute()
    listed = UnicodeAttribute(default=PROJECT_LIST)
    # The queued or running build, if any (see builds.py).
    job_id = UnicodeAttribute(null=True)
    job_kind = UnicodeAttribute(null=True)
    job_started_at = NumberAttribute(null=True)
    job_deadline = NumberAttribute(null=True)
    job_shard = UnicodeAttribute(null=True)

    all_projects = AllProjects()
    by_group = ProjectsByGroup()
    by_user = ProjectsByUser()
    by_theme = ProjectsByTheme()
    by_blueprint = ProjectsByBlueprint()
    jobs = ProjectJobsByDeadline()
