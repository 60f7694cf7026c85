"""What differs between the supported Airflow 3 minors (3.1.2 and later), in one place.

Names that moved are imported from where the newest Airflow keeps them, else from where 3.1 had
them; behaviour is feature-detected, not read from version numbers, so a backport is seen as it is.
"""

from __future__ import annotations

from typing import Any

from airflow.triggers.base import BaseTrigger

try:  # Airflow 3.2+
    from airflow.sdk.configuration import conf
except ImportError:  # Airflow 3.1
    from airflow.configuration import conf  # type: ignore[no-redef,unused-ignore]

try:  # Airflow 3.2+: the Task SDK's own exception
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef,attr-defined,unused-ignore]

try:  # Airflow 3.2+
    from airflow.sdk.plugins_manager import AirflowPlugin
except ImportError:  # Airflow 3.1
    from airflow.plugins_manager import AirflowPlugin  # type: ignore[assignment,no-redef,unused-ignore]

try:  # Airflow 3.2+
    from airflow.sdk.log import amask_secret
except ImportError:  # Airflow 3.1

    async def amask_secret(secret: Any, name: str | None = None) -> None:  # type: ignore[misc,unused-ignore]
        """Register ``secret`` with this process's masker only.

        3.1's ``mask_secret`` would also tell the task supervisor with a blocking send, which must not
        run on the triggerer's event loop.
        """
        from airflow.sdk._shared.secrets_masker import _secrets_masker

        _secrets_masker().add_mask(secret, name)


__all__ = ("TRIGGER_ON_KILL", "AirflowPlugin", "TaskDeferred", "amask_secret", "conf")

# Airflow 3.3 calls ``BaseTrigger.on_kill()`` when a user marks a deferred task failed or clears it.
# Earlier triggerers only cancel the trigger, exactly as on a triggerer restart, so the trigger cannot
# tell that the task was killed and the Databricks run keeps going.
TRIGGER_ON_KILL: bool = callable(getattr(BaseTrigger, "on_kill", None))
