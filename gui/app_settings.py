"""What the app remembers between sessions: the last cell configured and the theme. Never the API key, which only
the OS keyring holds (cab_check.keys)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cab_check import store
from cab_check.models import MAX_TIMEOUT_S, MIN_TIMEOUT_S

SETTINGS_FILE = "gui-settings.json"


class GuiSettings(BaseModel):
    # Unknown fields (from a newer or older version) are dropped rather than refused; there is no field for a key.
    model_config = ConfigDict(extra="ignore")

    use_reference_model: bool = True
    endpoint: str = ""
    model: str = ""
    tui: str = "aider"
    task: str = "polyglot/rust-error-handling"  # a shipped task's slug, or the path of the user's task folder
    timeout_s: int | None = Field(default=None, ge=MIN_TIMEOUT_S, le=MAX_TIMEOUT_S)  # None: the task's own
    engine: str = ""  # a container engine's URL or docker context; empty: the one the docker CLI would use
    save_key: bool = True
    dark: bool | None = None  # None: follow the system


def settings_path() -> Path:
    return store.data_dir() / SETTINGS_FILE


def load_settings() -> GuiSettings:
    """The saved settings; the defaults when there are none or the file cannot be read as settings."""
    try:
        return GuiSettings.model_validate_json(settings_path().read_bytes())
    except (OSError, ValidationError):  # a broken file costs the user their last choices, never the app's start
        return GuiSettings()


def save_settings(settings: GuiSettings) -> None:
    """Writes the settings whole (readers never see half a file); OSError when the data dir is not writable."""
    store.write_atomic(settings_path(), settings.model_dump_json(indent=2) + "\n")
