"""The tokens file: what it accepts, what it refuses (naming the entry), and matching."""

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluicegate.api.auth.tokens import (
    TOKEN_PREFIX,
    digest_of,
    load_tokens,
    new_token,
    parse_patterns,
    toml_block,
)
from sluicegate.errors import ConfigurationError
from sluicegate.queue.rate import Rate

CONFIGURED = ("alpha-secret", "beta-secret", "gamma-secret")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tokens.toml"
    path.write_text(text)
    return path


def entry(name: str, token: str, queues: str = '["orders"]') -> str:
    digest = hashlib.sha256(token.encode()).hexdigest()
    return f'[tokens.{name}]\nsha256 = "{digest}"\nqueues = {queues}\n'


def test_loads_names_digests_and_patterns(tmp_path: Path) -> None:
    table = load_tokens(
        write(tmp_path, entry("billing", "s1", '["orders", "billing-*"]') + entry("web", "s2"))
    )

    assert [t.name for t in table.tokens] == ["billing", "web"]
    billing = table.match("s1")
    assert billing is not None
    assert billing.name == "billing"
    assert billing.allows("orders")
    assert billing.allows("billing-eu")
    assert not billing.allows("billing")
    assert not billing.allows("orders-2")
    assert table.match("s3") is None
    assert table.match("") is None


def test_uppercase_hex_is_accepted(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"s1").hexdigest().upper()
    table = load_tokens(write(tmp_path, f'[tokens.a]\nsha256 = "{digest}"\nqueues = ["q"]\n'))
    assert table.match("s1") is not None


def test_an_entry_may_carry_a_rate_and_a_burst(tmp_path: Path) -> None:
    text = entry("a", "s") + 'rate = "120/m"\nburst = 5\n' + entry("b", "t")
    limited, free = load_tokens(write(tmp_path, text)).tokens
    assert (limited.rate, free.rate) == (Rate(2.0, 5), None)


def test_an_empty_file_has_no_tokens(tmp_path: Path) -> None:
    assert load_tokens(write(tmp_path, "")).tokens == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tokens.a\n", "API_TOKENS_FILE"),
        ('[tokens.a]\nsha256 = "abc"\nqueues = ["q"]\n', "[tokens.a]: sha256 must be 64 hex"),
        (f'[tokens.a]\nsha256 = "{"0" * 64}"\nqueues = []\n', "non-empty list"),
        (f'[tokens.a]\nsha256 = "{"0" * 64}"\nqueues = ["Orders"]\n', "'Orders'"),
        (f'[tokens.a]\nsha256 = "{"0" * 64}"\n', "needs the keys sha256 and queues"),
        (f'[tokens.a]\nsha256 = "{"0" * 64}"\nqueues = ["q"]\ntoken = "x"\n', "may have rate"),
        (entry("a", "s") + 'rate = "fast"\n', "[tokens.a]: rate 'fast' is not"),
        (entry("a", "s") + "burst = 5\n", "burst needs a rate"),
        (entry("a", "s") + 'rate = "5/s"\nburst = "5"\n', "burst a whole number"),
        ('[users.a]\nname = "x"\n', "only [tokens.NAME]"),
        (entry("a", "same") + entry("b", "same"), "same sha256"),
        (entry('"bad name"', "s"), "token name 'bad name'"),
    ],
)
def test_refuses_a_bad_file_naming_the_mistake(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=None) as caught:
        load_tokens(write(tmp_path, text))
    assert message in str(caught.value)


def test_a_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="API_TOKENS_FILE"):
        load_tokens(tmp_path / "nope.toml")


def test_new_tokens_are_random_and_their_block_loads(tmp_path: Path) -> None:
    first, second = new_token(), new_token()
    assert first != second
    assert first.startswith(TOKEN_PREFIX)
    assert len(first) > 40
    block = toml_block("svc", first, ("a", "b-*"))
    assert first not in block
    table = load_tokens(write(tmp_path, block))
    token = table.match(first)
    assert token is not None
    assert token.queues == ("a", "b-*")


def test_parse_patterns() -> None:
    assert parse_patterns(" a, b-* ,") == ("a", "b-*")
    with pytest.raises(ConfigurationError):
        parse_patterns(" , ")
    with pytest.raises(ConfigurationError):
        parse_patterns("a,B")


@pytest.fixture(scope="module")
def configured_table(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("tokens") / "tokens.toml"
    path.write_text("".join(entry(f"t{i}", token) for i, token in enumerate(CONFIGURED)))
    return load_tokens(path)


@settings(max_examples=500)
@given(presented=st.text(max_size=80) | st.binary(max_size=80).map(lambda b: b.hex()))
def test_no_other_token_is_ever_accepted(configured_table, presented: str) -> None:  # type: ignore[no-untyped-def]
    """Whatever is presented, only the configured tokens themselves match, each to its own name."""
    token = configured_table.match(presented)
    if presented in CONFIGURED:
        assert token is not None
        assert token.name == f"t{CONFIGURED.index(presented)}"
    else:
        assert token is None


@settings(max_examples=200)
@given(
    token=st.sampled_from(CONFIGURED),
    edit=st.sampled_from(["prefix", "suffix", "case", "drop"]),
    extra=st.text(min_size=1, max_size=3),
)
def test_near_misses_are_refused(configured_table, token: str, edit: str, extra: str) -> None:  # type: ignore[no-untyped-def]
    near = {
        "prefix": extra + token,
        "suffix": token + extra,
        "case": token.upper(),
        "drop": token[:-1],
    }[edit]
    assert configured_table.match(near) is None
    assert digest_of(near) != digest_of(token)
