"""The Configure form's endpoint state without a window or Qt: what a user sees happen to the key field, the model
picker and the status line as they type an endpoint and a key and the keyring and the endpoint answer.

Each test plays the form's part: it reports what happened and does what the returned Step asks for, answering the
lookups itself, in whatever order the test needs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cab_check import keys
from cab_check.errors import BadInput, KeyringUnavailable, Remedy
from cab_check.gui.endpoint_state import (
    KEY_LOADED,
    KEY_SAVED,
    LISTING,
    NO_KEYRING,
    NO_MODELS,
    EndpointState,
    KeyLookup,
    ModelListing,
    Step,
    typed_key,
)

A = "http://127.0.0.1:8000/v1"
B = "http://127.0.0.1:9000/v1"
KEY = "sk-state-canary-7d2e"
MINE = "sk-typed-by-the-user"
MODELS = ["llama-3.1-8b", "mistral-small", "qwen2.5-coder-7b"]
# Words no other front end uses, so a sentence can be seen to be in the form's own.
WORDS = {remedy: f"<the form's way: {remedy.value}>" for remedy in Remedy}


@pytest.fixture
def state() -> EndpointState:
    state = EndpointState(WORDS)
    state.source_changed(True)  # the user's endpoint is the model source
    return state


def settle(state: EndpointState, endpoint: str, key_text: str = "") -> KeyLookup:
    """The endpoint field is left holding a new endpoint: its saved key is looked up."""
    step = state.endpoint_settled(endpoint, key_text)
    assert step.key_lookup is not None and step.key_lookup.endpoint == endpoint
    return step.key_lookup


def asked(step: Step) -> tuple[str, str | None]:
    """Which endpoint the step asks for its models, and with which key."""
    assert step.model_listing is not None, "the models should be asked for"
    return step.model_listing.endpoint, step.model_listing.key


def test_nothing_is_said_before_anything_happens():
    assert EndpointState(WORDS).status == ""


# --- the saved key -------------------------------------------------------------------------------------------------


def test_a_saved_key_fills_the_empty_key_field_and_lists_the_models_with_it(state):
    lookup = settle(state, A)
    step = state.key_found(lookup, KEY, "")
    assert step.fill_key == KEY
    assert asked(step) == (A, KEY)
    assert KEY_LOADED in state.status and LISTING in state.status
    assert state.in_keyring(A, KEY), "saving it again would be a needless write"


def test_an_endpoint_without_a_saved_key_leaves_the_field_alone(state):
    step = state.key_found(settle(state, A), None, "")
    assert step.fill_key is None and not step.clear_key
    assert asked(step) == (A, None)
    assert KEY_LOADED not in state.status


def test_one_endpoints_saved_key_is_never_offered_to_another(state):
    state.key_found(settle(state, A), KEY, "")
    step = state.endpoint_settled(B, KEY)  # the field still shows A's key
    assert step.clear_key, "A's key must leave the field before anything is sent to B"
    assert step.models == (), "A's models are not B's"
    assert step.key_lookup is not None and step.key_lookup.endpoint == B
    assert KEY_LOADED not in state.status
    assert not state.in_keyring(B, KEY)

    step = state.key_found(step.key_lookup, None, "")  # B has no saved key
    assert step.fill_key is None
    assert asked(step) == (B, None)


def test_an_endpoint_edited_but_not_left_does_not_get_the_last_ones_key(state):
    """The keyring is still looking A up when the user changes the field to B and presses Run straight away (Run
    settles the field): A's key, arriving late, goes nowhere."""
    late = settle(state, A)
    settle(state, B)
    assert state.key_found(late, KEY, "") == Step()
    assert KEY_LOADED not in state.status
    assert not state.in_keyring(A, KEY) and not state.in_keyring(B, KEY)


def test_an_answer_about_an_endpoint_left_and_come_back_to_is_still_stale(state):
    """A, then B, then A again: the first A lookup's answer belongs to a visit the user has ended."""
    first = settle(state, A)
    settle(state, B)
    again = settle(state, A)
    assert state.key_found(first, KEY, "") == Step()
    assert state.key_found(again, KEY, "").fill_key == KEY


def test_a_key_typed_before_the_keyring_answers_wins_over_the_saved_one(state):
    step = state.key_found(settle(state, A), KEY, MINE)
    assert step.fill_key is None, "the user's own key is not overwritten"
    assert asked(step) == (A, MINE)
    assert "the one typed here is used instead" in state.status
    assert not state.in_keyring(A, MINE)


def test_a_typed_key_that_is_the_saved_one_counts_as_loaded(state):
    step = state.key_found(settle(state, A), KEY, f" {KEY} ")
    assert step.fill_key == KEY
    assert KEY_LOADED in state.status and state.in_keyring(A, KEY)


def test_typing_in_the_key_field_ends_the_key_note_and_the_key_is_the_users(state):
    state.key_found(settle(state, A), KEY, "")
    state.key_typed()
    assert KEY_LOADED not in state.status
    assert not state.in_keyring(A, KEY), "the field no longer holds what the keyring holds"
    step = state.endpoint_settled(B, MINE)
    assert not step.clear_key, "only a key from the keyring is bound to its endpoint"


# --- a keyring that cannot be used -------------------------------------------------------------------------------


def test_no_keyring_at_all_gives_its_sentence_and_the_typed_key_does_the_work(state):
    absent = keys.KeyringAbsent(keys.NO_KEYRING, "no_keyring", Remedy.KEY)
    step = state.key_unavailable(settle(state, A), absent, MINE)
    assert NO_KEYRING in state.status
    assert step.fill_key is None and not step.clear_key
    assert asked(step) == (A, MINE)
    assert state.key_not_saved(absent) == NO_KEYRING, "saving it says the same, and the run goes on with the key"


def test_a_locked_keyring_is_worded_in_the_forms_terms(state):
    locked = KeyringUnavailable(keys.LOCKED, "keyring_locked", Remedy.KEY)
    state.key_unavailable(settle(state, A), locked, "")
    said = state.status
    assert said.startswith("The OS keyring is locked")
    assert WORDS[Remedy.KEY] in said and Remedy.KEY.slot not in said
    assert "The key typed here is used for this run only." in said


def test_a_keyring_that_fails_some_other_way_is_named_and_the_key_asked_for(state):
    step = state.key_unavailable(settle(state, A), RuntimeError("dbus went away"), "")
    assert "(RuntimeError)" in state.status and "type the key" in state.status
    assert asked(step) == (A, None), "the models are still listed"


def test_a_stale_keyring_failure_says_nothing(state):
    late = settle(state, A)
    settle(state, B)
    assert state.key_unavailable(late, RuntimeError("late"), "") == Step()
    assert "RuntimeError" not in state.status


# --- the model list ------------------------------------------------------------------------------------------------


def listed(state: EndpointState, endpoint: str, key_text: str = "") -> ModelListing:
    """Settles `endpoint` with no saved key; returns the model listing that follows."""
    step = state.key_found(settle(state, endpoint, key_text), None, key_text)
    assert step.model_listing is not None
    return step.model_listing


def test_the_models_listed_fill_the_picker(state):
    step = state.models_listed(listed(state, A), MODELS)
    assert step.models == tuple(MODELS)
    assert state.status == "3 models from the endpoint."


def test_one_model_is_said_as_one(state):
    assert state.models_listed(listed(state, A), ["only-one"]).models == ("only-one",)
    assert state.status == "1 model from the endpoint."


@pytest.mark.parametrize("answer", [[], None], ids=["empty-list", "no-model-list"])
def test_no_models_empty_the_picker_and_ask_for_the_id(state, answer):
    step = state.models_listed(listed(state, A), answer)
    assert step.models == ()
    assert state.status == NO_MODELS


def test_a_model_list_from_an_earlier_endpoint_is_ignored(state):
    stale = listed(state, A)
    settle(state, B)
    assert state.models_listed(stale, MODELS) == Step()
    assert "from the endpoint" not in state.status


def test_a_model_list_asked_with_an_earlier_key_is_ignored(state):
    without_key = listed(state, A)
    with_key = state.key_left(KEY).model_listing
    assert with_key is not None and (with_key.endpoint, with_key.key) == (A, KEY)
    assert state.models_listed(without_key, []) == Step(), "the answer to the keyless ask must not say 'no models'"
    assert state.models_listed(with_key, MODELS).models == tuple(MODELS)


def test_the_models_are_asked_again_only_when_the_key_changes(state):
    state.models_listed(listed(state, A), None)  # the endpoint wants a key to list them
    assert state.status == NO_MODELS
    assert asked(state.key_left(KEY)) == (A, KEY)
    assert LISTING in state.status
    assert state.key_left(KEY) == Step(), "the same key: already asked"
    assert state.endpoint_settled(A, KEY) == Step(), "the same endpoint left again: nothing new to ask"


def test_a_key_no_http_header_can_carry_is_named_and_not_sent(state):
    listed(state, A)
    assert state.key_left("sk-ключ") == Step()
    assert state.status.startswith("API key:")


def test_nothing_is_listed_while_the_reference_model_is_chosen(state):
    state.source_changed(False)
    step = state.key_found(settle(state, A), None, "")
    assert step.model_listing is None
    state.source_changed(True)
    assert asked(state.endpoint_settled(A, "")) == (A, None), "choosing the endpoint again lists its models"


def test_an_endpoint_field_that_holds_no_url_says_why_and_looks_nothing_up(state):
    state.key_found(settle(state, A), KEY, "")
    problem = "Endpoint URL: it needs a scheme, http:// or https://."
    step = state.endpoint_settled(None, KEY, problem)
    assert step.key_lookup is None and step.model_listing is None
    assert step.clear_key and step.models == ()
    assert state.status == problem


# --- saving the key --------------------------------------------------------------------------------------------------


def test_a_saved_key_is_said_and_bound_to_its_endpoint(state):
    settle(state, A)
    state.key_saved(A, MINE)
    assert KEY_SAVED in state.status
    assert state.in_keyring(A, MINE) and not state.in_keyring(B, MINE)
    assert state.endpoint_settled(B, MINE).clear_key, "once saved for A, the key is A's"


def test_a_key_that_could_not_be_saved_still_serves_this_run(state):
    said = state.key_not_saved(OSError("disk full"))
    assert "(OSError)" in said and "used for this run only" in said
    assert said in state.status
    assert not state.in_keyring(A, KEY)


def test_the_key_field_is_read_as_a_header_can_carry_it():
    assert typed_key(f"  {KEY}\n") == KEY
    assert typed_key("   ") is None
    with pytest.raises(BadInput, match=r"^API key:"):
        typed_key("sk-\u043a\u043b\u044e\u0447")


def test_the_state_needs_no_qt():
    """Its own interpreter, since another test of the session may have loaded Qt already."""
    probe = "import sys, cab_check.gui.endpoint_state; print(sorted(m for m in sys.modules if 'PySide' in m))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "[]\n"
