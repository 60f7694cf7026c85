"""What differs between the supported Airflow 3 minors (3.1.2 and later), in one place.

Names that moved are imported from where the newest Airflow keeps them, else from where 3.1 had
them; behaviour is feature-detected, not read from version numbers, so a backport is seen as it is.
"""

from __future__ import annotations

from airflow.triggers.base import BaseTrigger

try:  # Airflow 3.2+
    from airflow.sdk.configuration import conf
except ImportError:  # Airflow 3.1
    from airflow.configuration import conf  # type: ignore[no-redef,unused-ignore]

try:  # Airflow 3.2+: the Task SDK's own exception
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef,attr-defined,unused-ignore]

__all__ = ("TRIGGER_ON_KILL", "TaskDeferred", "conf")

# Airflow 3.3 calls ``BaseTrigger.on_kill()`` when a user marks a deferred task failed or clears it.
# Earlier triggerers only cancel the trigger, exactly as on a triggerer restart, so the trigger cannot
# tell that the task was killed and the Databricks run keeps going.
TRIGGER_ON_KILL: bool = callable(getattr(BaseTrigger, "on_kill", None))
