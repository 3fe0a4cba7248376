"""What the Configure form knows about the user's endpoint: which endpoint is settled, which of its lookups are
still current, which key came from the OS keyring and for which endpoint, and the status line that says so.

No widgets and no threads here, so every rule can be read and tested on its own. The form reports what happened
(the endpoint field was left, the keyring answered, a key was typed, the models were listed) and gets back a Step:
what to do to the key field and the model picker, and which lookup to start in the background. The answer to a
lookup comes back with the lookup itself, so an answer about an endpoint that is no longer settled is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cab_check import keys
from cab_check.errors import BadInput, KeyringUnavailable, Words

KEY_LOADED = "Key loaded from the keyring."
KEY_SAVED = "Key saved to the keyring."
KEY_OVERRIDDEN = "A key is saved for this endpoint; the one typed here is used instead."
NO_KEYRING = "This machine has no usable OS keyring: type the key; it is used for this run only, never saved."
LISTING = "Asking the endpoint for its models…"
NO_MODELS = "The endpoint lists no models — type the id."


def typed_key(text: str) -> str | None:
    """The key field's text as the key to send (None when empty); BadInput when no HTTP header can carry it."""
    key = text.strip()
    if key and not (key.isascii() and key.isprintable()):
        raise BadInput("API key: it holds characters an HTTP header cannot carry; paste the key again.")
    return key or None


def keyring_sentence(exc: KeyringUnavailable, words: Words) -> str:
    """What the form says when the keyring cannot be used: no keyring at all, or the engine's own sentence for one
    that is locked or does not answer (which names the way out, in the form's `words`)."""
    if isinstance(exc, keys.KeyringAbsent):
        return NO_KEYRING
    return f"{exc.sentence(words)} The key typed here is used for this run only."


def models_sentence(count: int) -> str:
    return f"{count} model{'s' if count != 1 else ''} from the endpoint." if count else NO_MODELS


@dataclass(frozen=True)
class KeyLookup:
    """Ask the OS keyring for `endpoint`'s saved key; the answer goes back with this lookup."""

    endpoint: str
    generation: int  # the endpoint's turn: a lookup from an earlier one is stale


@dataclass(frozen=True)
class ModelListing:
    """Ask `endpoint` for its models, sending `key`; the answer goes back with this listing."""

    endpoint: str
    key: str | None
    generation: int


@dataclass(frozen=True)
class Step:
    """What the form does after an event, in this order; then it shows `EndpointState.status`. The default Step
    does nothing (an answer that came too late)."""

    clear_key: bool = False  # the key field holds the keyring's key of another endpoint: it must not be sent
    fill_key: str | None = None  # the keyring's key for the settled endpoint, into the key field
    models: tuple[str, ...] | None = None  # the model picker's new list (empty: no list); None leaves it
    key_lookup: KeyLookup | None = None
    model_listing: ModelListing | None = None


NOTHING = Step()


class EndpointState:
    """The endpoint, its key and its model list, as the form's events leave them.

    `words` are the front end's words for an error's remedy (the app's APP_WORDS), for the keyring's sentences."""

    def __init__(self, words: Words) -> None:
        self._words = words
        self._own = False  # the user's endpoint is the model source (models are listed only then)
        # The endpoint the key and the models were last looked up for; None for none yet, or one that is no URL.
        self.settled: str | None = None
        # Bumped whenever another endpoint settles: an answer that carries an older one is about an endpoint the
        # user has left, and is dropped (A, then B, then A again must not take the first A's late answer).
        self.generation = 0
        # (endpoint, key) the keyring holds and the key field shows: the key is bound to that endpoint, so the
        # field is emptied when another one settles, and saving it again is skipped.
        self._keyring_key: tuple[str, str] | None = None
        self._listing: ModelListing | None = None  # the model list last asked for, for this endpoint
        self.key_note = ""  # about the key: loaded, saved, or why the keyring cannot be used
        self.models_note = ""  # about the model list, or why the endpoint URL or the key cannot be used

    @property
    def status(self) -> str:
        """The form's status line under the endpoint fields; empty hides it."""
        return " ".join(note for note in (self.key_note, self.models_note) if note)

    # --- events ---------------------------------------------------------------------------------------------

    def source_changed(self, own: bool) -> None:
        """The user chose their endpoint (True) or the reference model (False) as the model source."""
        self._own = own

    def endpoint_settled(self, endpoint: str | None, key_text: str, problem: str = "") -> Step:
        """The endpoint field was left, or the form is about to use it (Run, the check): `endpoint` is its
        normalised URL, None when it holds none (`problem` then says why, or is empty for an empty field);
        `key_text` is the key field as it stands."""
        if endpoint == self.settled:
            # The same endpoint: its key was looked up already; a key typed since may list more models.
            return NOTHING if endpoint is None else self._listing_step(key_text, NOTHING)
        self.settled = endpoint
        self.generation += 1
        self._listing = None
        self.key_note, self.models_note = "", problem
        # One endpoint's saved key is never sent to another; a key the user typed is theirs to keep.
        clear = self._keyring_key is not None and self._keyring_key[0] != endpoint
        if clear:
            self._keyring_key = None
        lookup = None if endpoint is None else KeyLookup(endpoint, self.generation)
        # The models are listed once the keyring has answered, with the key it may have given.
        return Step(clear_key=clear, models=(), key_lookup=lookup)

    def key_found(self, lookup: KeyLookup, key: str | None, key_text: str) -> Step:
        """The keyring answered `lookup` with the endpoint's saved key (None: it has none)."""
        if lookup.generation != self.generation:
            return NOTHING
        typed = key_text.strip()
        if key and (not typed or typed == key):
            self._keyring_key = (lookup.endpoint, key)
            self.key_note = KEY_LOADED
            return self._listing_step(key, Step(fill_key=key))
        if key:
            self.key_note = KEY_OVERRIDDEN  # the user's own key wins over the saved one
        return self._listing_step(key_text, NOTHING)

    def key_unavailable(self, lookup: KeyLookup, exc: Exception, key_text: str) -> Step:
        """The keyring could not be asked for `lookup`: its sentence is shown, and a typed key does the work."""
        if lookup.generation != self.generation:
            return NOTHING
        if isinstance(exc, KeyringUnavailable):
            self.key_note = keyring_sentence(exc, self._words)
        else:
            self.key_note = f"The OS keyring could not be read ({type(exc).__name__}): type the key."
        return self._listing_step(key_text, NOTHING)

    def key_typed(self) -> None:
        """The user edited the key field: it no longer holds the keyring's key, and the key note is out of date."""
        self._keyring_key = None
        self.key_note = ""

    def key_left(self, key_text: str) -> Step:
        """The key field was left: a new key may see models the endpoint hid before."""
        return self._listing_step(key_text, NOTHING)

    def models_listed(self, listing: ModelListing, ids: list[str] | None) -> Step:
        """The endpoint answered `listing` with its model ids (None: no model list it could read)."""
        if listing != self._listing:
            return NOTHING  # another endpoint or another key was asked since
        self.models_note = models_sentence(len(ids or []))
        return Step(models=tuple(ids or ()))

    # --- saving the key (the form saves it; the state knows whether it must) ------------------------------

    def in_keyring(self, endpoint: str, key: str) -> bool:
        """The keyring already holds `key` for `endpoint`: it was loaded from there or saved this session."""
        return self._keyring_key == (endpoint, key)

    def key_saved(self, endpoint: str, key: str) -> None:
        self._keyring_key = (endpoint, key)
        self.key_note = KEY_SAVED

    def key_not_saved(self, exc: Exception) -> str:
        """Saving the key failed with `exc`: the sentence to show (the key still works for this run)."""
        if isinstance(exc, KeyringUnavailable):
            self.key_note = keyring_sentence(exc, self._words)
        else:
            self.key_note = (
                f"The key was not saved to the OS keyring ({type(exc).__name__}); it is used for this run only."
            )
        return self.key_note

    # --- the model list -------------------------------------------------------------------------------------

    def _listing_step(self, key_text: str, step: Step) -> Step:
        """`step`, plus a model listing when the user's endpoint is settled and the endpoint was not yet asked
        with this key."""
        if not self._own or self.settled is None:
            return step
        try:
            key = typed_key(key_text)
        except BadInput as exc:
            self.models_note = str(exc)
            return step
        listing = ModelListing(self.settled, key, self.generation)
        if listing == self._listing:
            return step
        self._listing = listing
        self.models_note = LISTING
        return replace(step, model_listing=listing)
