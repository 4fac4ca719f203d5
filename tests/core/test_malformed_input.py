"""Malformed configuration, mapping files and environment variables end in exit 2 with the
place named (file, key, line, or variable), never in exit 1 "internal error" (issue #13).

One test per case the fuzz run found, then two property-based tests that feed mutated
inputs to `connector mappings validate --dir` and `connector --config ... status` and
assert exit 0 or 2, with a named file or variable whenever it is 2. The classes of bad input
they cover:

- truncated files (cut at any character: half a string, half a table header);
- duplicated lines (duplicate keys and tables);
- values of the wrong type (text for numbers, numbers for text, lists and tables for
  scalars, booleans);
- regular expressions with huge repeat counts (`a{99999999999}`), nested quantifiers
  (`(a+)+`), unbalanced groups and over-long patterns, in `forms.toml` and `scoring.toml`;
- arrays and inline tables nested from 30 to 3,000 levels deep;
- random unicode lines and random bytes (not UTF-8) in place of a line or a whole file;
- unknown keys and sections, including a known section in the wrong case (`[SYNC]`);
- over-long, NUL-containing and wrong-kind paths (a folder where a file is expected);
- `CONNECTOR_*` variables: known names with random values (non-JSON sections, lists
  comma-separated or as broken JSON, deep JSON), misspelt and unknown names.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import main
from core.config import load_settings
from core.errors import ConfigError
from core.regex import compile_regex

ROOT = Path(__file__).resolve().parents[2]
MAPPING_FILES = sorted(p.name for p in (ROOT / "mappings").glob("*.toml"))
SECRET = "pat-na1-very-secret-token-0123456789"


def _config_text(state: Path, extra: str = "") -> str:
    return (
        '[salesforce]\nauth = "session"\ninstance_url = "https://example.my.salesforce.com"\n'
        f'session_id = "00Dxx!secret-session"\n\n[state]\npath = {json.dumps(str(state))}\n'
        + extra
    )


def _config(folder: Path, extra: str = "") -> Path:
    path = folder / "connector.toml"
    path.write_text(_config_text(folder / "state" / "connector.db", extra), encoding="utf-8")
    return path


def _mappings(folder: Path) -> Path:
    target = folder / "mappings"
    shutil.copytree(ROOT / "mappings", target)
    return target


def _invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, args, env=env or {})


def _status(config: Path, env: dict[str, str] | None = None) -> Result:
    return _invoke(["--config", str(config), "status"], env)


def _validate(folder: Path) -> Result:
    return _invoke(["mappings", "validate", "--dir", str(folder)])


# ------------------------------------------------------------------- regular expressions


def test_given_huge_repeat_count_in_forms_toml_validate_exits_2_naming_file_and_line(
    tmp_path: Path,
) -> None:
    folder = _mappings(tmp_path)
    forms = folder / "forms.toml"
    lines = forms.read_text(encoding="utf-8").count("\n")
    forms.write_text(forms.read_text(encoding="utf-8")
                     + '\n[[form]]\nmatch_name = "a{99999999999}"\nkind = "x_y"\n')

    result = _validate(folder)

    assert result.exit_code == 2
    assert f"forms.toml:{lines + 3}" in result.output and "match_name" in result.output
    assert "repeat count is too large" in result.output


def test_given_huge_repeat_count_in_a_scoring_regex_validate_exits_2_naming_the_line(
    tmp_path: Path,
) -> None:
    folder = _mappings(tmp_path)
    scoring = folder / "scoring.toml"
    text = scoring.read_text(encoding="utf-8")
    line = text[: text.index("regex = '(pric")].count("\n") + 1
    scoring.write_text(text.replace("regex = '(pric", "regex = 'x{99999999999}(pric"))

    result = _validate(folder)

    assert result.exit_code == 2
    assert f"scoring.toml:{line}" in result.output and ".regex" in result.output


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(a+)+$", "nested quantifiers"),
        (r"(\w*\s?)*@", "nested quantifiers"),
        ("a{5000}", "repeat count 5000"),
        ("x" * 1001, "at most 1000"),
        ("(unclosed", "not a valid regular expression"),
    ],
)
def test_given_a_dangerous_or_broken_regex_it_is_refused_with_the_reason(
    pattern: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        compile_regex(pattern)


def test_given_groups_nested_to_the_length_limit_only_value_error_can_come_out() -> None:
    try:
        compile_regex("(" * 500 + ")" * 500)
    except ValueError as exc:
        assert "nested too deeply" in str(exc)


def test_given_possessive_or_atomic_repeats_the_regex_is_accepted() -> None:
    assert compile_regex("(?>a+)+b").search("aaab")
    assert compile_regex("(?:ab)++c").search("ababc")


# ------------------------------------------------------------------ environment variables


def test_given_comma_separated_list_env_var_it_is_read_as_a_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_HUBSPOT__CONTACT_PROPERTIES", "email, firstname,")
    settings = load_settings(_config(tmp_path))
    assert settings.hubspot.contact_properties == ["email", "firstname"]


def test_given_json_list_env_var_it_is_read_as_a_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_HUBSPOT__COMPANY_PROPERTIES", '["name", "domain"]')
    settings = load_settings(_config(tmp_path))
    assert settings.hubspot.company_properties == ["name", "domain"]


def test_given_comma_separated_list_env_var_status_exits_0(tmp_path: Path) -> None:
    env = {"CONNECTOR_HUBSPOT__CONTACT_PROPERTIES": "email,firstname"}
    result = _status(_config(tmp_path), env)
    assert result.exit_code == 0, result.output


def test_given_json_section_env_var_its_keys_apply_and_single_keys_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_SYNC", '{"create_leads_for": "all", "bulk_threshold": 300}')
    monkeypatch.setenv("CONNECTOR_SYNC__BULK_THRESHOLD", "400")
    settings = load_settings(_config(tmp_path))
    assert settings.sync.create_leads_for == "all" and settings.sync.bulk_threshold == 400


def test_given_non_json_section_variable_status_exits_2_naming_the_variable(
    tmp_path: Path,
) -> None:
    result = _status(_config(tmp_path), {"CONNECTOR_SYNC": "not json"})
    assert result.exit_code == 2
    assert "environment variable CONNECTOR_SYNC: expected a JSON object" in result.output
    assert "internal error" not in result.output


def test_given_broken_json_list_variable_exits_2_naming_the_variable(tmp_path: Path) -> None:
    result = _status(_config(tmp_path), {"CONNECTOR_HUBSPOT__CONTACT_PROPERTIES": '["email",'})
    assert result.exit_code == 2
    assert "CONNECTOR_HUBSPOT__CONTACT_PROPERTIES: expected a list" in result.output


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CONNECTOR_HUBSPOT", '{"access_token": "' + SECRET),  # not JSON
        ("CONNECTOR_HUBSPOT", '{"access_token": ["' + SECRET + '"]}'),  # wrong type
        ("CONNECTOR_SALESFORCE", '{"password": "' + SECRET + '", "pasword": 1}'),
        ("CONNECTOR_STATE__URL", "mysql://user:" + SECRET + "@db/x"),
        ("CONNECTOR_SALESFORCE", '{"session_id": {"token": "' + SECRET + '"}}'),
    ],
)
def test_given_a_malformed_secret_variable_its_value_never_appears_in_the_output(
    tmp_path: Path, name: str, value: str
) -> None:
    result = _status(_config(tmp_path), {name: value})
    assert result.exit_code == 2, result.output
    assert name in result.output or name.split("__")[0] in result.output
    assert SECRET not in result.output


def test_given_misspelt_nested_variable_exits_2_suggesting_the_setting(tmp_path: Path) -> None:
    result = _status(_config(tmp_path), {"CONNECTOR_HUBSPOT__ACESS_TOKEN": SECRET})
    assert result.exit_code == 2
    assert "CONNECTOR_HUBSPOT__ACESS_TOKEN: names no setting" in result.output
    assert "did you mean CONNECTOR_HUBSPOT__ACCESS_TOKEN?" in result.output
    assert SECRET not in result.output


def test_given_unrelated_connector_variable_it_is_ignored_with_a_warning_when_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CONNECTOR_HUBSPT", "x")  # close to CONNECTOR_HUBSPOT: a warning
    monkeypatch.setenv("CONNECTOR_BUILD_ID", "7")  # somebody else's: silently ignored
    with caplog.at_level(logging.WARNING, logger="connector.config"):
        load_settings(_config(tmp_path))
    assert "CONNECTOR_HUBSPT names no setting" in caplog.text
    assert "did you mean CONNECTOR_HUBSPOT?" in caplog.text
    assert "CONNECTOR_BUILD_ID" not in caplog.text


# ------------------------------------------------------------------------ unknown keys


def test_given_section_spelled_SYNC_status_exits_2_suggesting_sync(tmp_path: Path) -> None:
    config = _config(tmp_path, '\n[SYNC]\ncreate_leads_for = "all"\n')
    result = _status(config)
    assert result.exit_code == 2
    assert "SYNC: unknown setting; did you mean 'sync'?" in result.output
    assert f"{config}:9" in result.output


def test_given_misspelt_key_in_config_the_closest_key_is_suggested(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_config(tmp_path, "\n[sync]\nBulk_Treshold = 300\n"))
    assert "sync.Bulk_Treshold: unknown setting; did you mean 'bulk_threshold'?" in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("name", "written", "meant"),
    [("costs.toml", "Currency", "currency"), ("funnel.toml", "SQL", "sql"),
     ("hubspot.toml", "propery", "property"), ("fields.toml", "tasks", "task"),
     ("forms.toml", "From", "form")],
)
def test_given_unknown_key_in_a_mapping_file_the_closest_key_is_suggested(
    tmp_path: Path, name: str, written: str, meant: str
) -> None:
    folder = _mappings(tmp_path)
    path = folder / name
    path.write_text(f"{written} = 1\n" + path.read_text(encoding="utf-8"), encoding="utf-8")

    result = _validate(folder)

    assert result.exit_code == 2
    assert f"{name}:1: {written}: unknown key {written!r}; did you mean {meant!r}?" in (
        result.output)


# --------------------------------------------------------------------- nesting and paths


def test_given_config_nested_thousands_deep_status_exits_2_naming_the_file(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, "\n[sync]\nx = " + "[" * 5000 + "]" * 5000 + "\n")
    result = _status(config)
    assert result.exit_code == 2
    assert f"{config}: not valid TOML: tables and arrays are nested too deeply" in result.output


@pytest.mark.parametrize("name", MAPPING_FILES)
def test_given_a_mapping_nested_thousands_deep_validate_exits_2_naming_the_file(
    tmp_path: Path, name: str
) -> None:
    folder = _mappings(tmp_path)
    with (folder / name).open("a", encoding="utf-8") as out:
        out.write("\nzz = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n")
    result = _validate(folder)
    assert result.exit_code == 2
    assert name in result.output and "nested too deeply" in result.output


def test_given_deeply_nested_json_section_variable_exits_2_naming_it(tmp_path: Path) -> None:
    result = _status(_config(tmp_path), {"CONNECTOR_SYNC": "[" * 100_000 + "]" * 100_000})
    assert result.exit_code == 2 and "CONNECTOR_SYNC" in result.output


def test_given_a_100000_character_state_path_status_exits_2_naming_state_path(
    tmp_path: Path,
) -> None:
    config = tmp_path / "connector.toml"
    config.write_text(_config_text(Path("x" * 100_000)), encoding="utf-8")
    result = _status(config)
    assert result.exit_code == 2
    assert "state.path: path is 100000 bytes long" in result.output
    assert f"{config}:7" in result.output
    assert "x" * 1000 not in result.output


@pytest.mark.parametrize(
    ("extra", "key", "message"),
    [
        ('\n[sync]\nmappings_dir = "connector.toml"\n', "sync.mappings_dir", "is a file"),
        ('\n[metrics]\ntextfile = "."\n', "metrics.textfile", "is a folder"),
        ('\n[metrics]\ntextfile = "connector.toml/x.prom"\n', "metrics.textfile", "its folder"),
        ('\n[sync]\nmappings_dir = "a\\u0000b"\n', "sync.mappings_dir", "NUL byte"),
        ("\n[sync]\nmappings_dir = \"" + "d" * 300 + '"\n', "sync.mappings_dir", "255"),
    ],
)
def test_given_an_unusable_path_setting_status_exits_2_naming_the_key(
    tmp_path: Path, extra: str, key: str, message: str
) -> None:
    result = _status(_config(tmp_path, extra))
    assert result.exit_code == 2, result.output
    assert key in result.output and message in result.output


@pytest.mark.parametrize("key", ["ca_bundle", "session_id_file"])
def test_given_a_folder_where_a_salesforce_file_is_expected_exits_2_naming_the_key(
    tmp_path: Path, key: str
) -> None:
    result = _status(_config(tmp_path), {f"CONNECTOR_SALESFORCE__{key.upper()}": str(tmp_path)})
    assert result.exit_code == 2
    assert f"salesforce.{key}:" in result.output and "is a folder" in result.output
    assert f"environment variable CONNECTOR_SALESFORCE__{key.upper()}" in result.output


def test_given_an_over_long_mappings_dir_validate_exits_2_naming_it(tmp_path: Path) -> None:
    result = _validate(tmp_path / ("m" * 5000))
    assert result.exit_code == 2
    assert "mappings folder is" in result.output and "at most 4096" in result.output


def test_the_shipped_example_config_and_mappings_still_validate(tmp_path: Path) -> None:
    assert load_settings(ROOT / "config.example.toml").sync.mappings_dir == Path("mappings")
    assert _validate(ROOT / "mappings").exit_code == 0


# ------------------------------------------------------------------ property-based tests

_WRONG_VALUES = ['"text"', "12", "-1", "1e400", "true", "[1, 2]", '{ a = 1 }', '""', "[]",
                 "'a{99999999999}'", "'(a+)+$'", "'('", "'" + "x" * 1500 + "'"]
_KEYS = ["match_name", "regex", "kind", "points", "SYNC", "sync", "weight", "field", "glob",
         "currency", "form", "property", "lost", "mql", "stages", "unknownkey"]
_MUTATIONS = ["truncate", "duplicate", "wrong_value", "regex", "deep", "unicode", "bytes",
              "unknown_key", "upper_header"]


def _mutate(text: str, kind: str, rng: random.Random, junk: str) -> str | bytes:
    lines = text.splitlines()
    at = rng.randrange(len(lines) + 1)
    if kind == "truncate":
        return text[: rng.randrange(len(text) + 1)]
    if kind == "duplicate" and lines:
        line = rng.choice(lines)
        return "\n".join([*lines[:at], line, *lines[at:]])
    if kind == "wrong_value":
        assigned = [i for i, line in enumerate(lines) if "=" in line]
        if assigned:
            i = rng.choice(assigned)
            lines[i] = lines[i].split("=", 1)[0] + "= " + rng.choice(_WRONG_VALUES)
        return "\n".join(lines)
    if kind == "regex":
        pattern = rng.choice(["a{99999999999}", "(a+)+$", "(x*)*y", "[", "x" * 1200])
        return text.replace("regex = '", "regex = '" + pattern, 1).replace(
            'match_name = "', 'match_name = "' + pattern, 1)
    if kind == "deep":
        depth = rng.choice([30, 33, 200, 3000])
        opener, closer = rng.choice([("[", "]"), ("{a = ", "}")])
        return text + "\nzz = " + opener * depth + "1" + closer * depth + "\n"
    if kind == "unicode":
        return "\n".join([*lines[:at], junk, *lines[at:]])
    if kind == "bytes":
        return junk.encode("utf-8", "surrogatepass") + b"\xff\xfe\x00" + text.encode()[:200]
    if kind == "unknown_key":
        return "\n".join([*lines[:at], f"{rng.choice(_KEYS)} = {rng.choice(_WRONG_VALUES)}",
                          *lines[at:]])
    if kind == "upper_header":
        return "\n".join(line.upper() if line.startswith("[") else line for line in lines)
    return text


def _assert_exit_0_or_2_with_a_place(result: Result, places: tuple[str, ...]) -> None:
    assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
    assert "internal error" not in result.output
    if result.exit_code == 2:
        assert any(place in result.output for place in places), result.output


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(MAPPING_FILES),
    kinds=st.lists(st.sampled_from(_MUTATIONS), min_size=1, max_size=3),
    seed=st.integers(0, 2**32 - 1),
    junk=st.text(max_size=40),
)
def test_property_mutated_mapping_files_validate_exits_0_or_2_naming_the_file(
    name: str, kinds: list[str], seed: int, junk: str
) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = _mappings(Path(tmp))
        path = folder / name
        content: str | bytes = path.read_text(encoding="utf-8")
        for kind in kinds:
            if isinstance(content, bytes):
                break
            content = _mutate(content, kind, rng, junk)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", errors="surrogatepass")
        _assert_exit_0_or_2_with_a_place(_validate(folder), (str(folder),))


_ENV_NAMES = [
    "CONNECTOR_SYNC", "CONNECTOR_HUBSPOT", "CONNECTOR_SALESFORCE", "CONNECTOR_STATE",
    "CONNECTOR_HUBSPOT__CONTACT_PROPERTIES", "CONNECTOR_HUBSPOT__TIER",
    "CONNECTOR_HUBSPOT__ACCESS_TOKEN_FILE", "CONNECTOR_SALESFORCE__CA_BUNDLE",
    "CONNECTOR_STATE__PATH", "CONNECTOR_STATE__URL", "CONNECTOR_SYNC__MAPPINGS_DIR",
    "CONNECTOR_SYNC__BULK_THRESHOLD", "CONNECTOR_METRICS__TEXTFILE", "CONNECTOR_SYNC__NOPE",
    "CONNECTOR_HUBSPT", "CONNECTOR_SALESFORCE__AUTH", "connector_sync__create_leads_for",
    "CONNECTOR_SYNC__X__Y",
]
_ENV_VALUES = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
            max_size=30),
    st.sampled_from(["email,firstname", '["a",', "[]", "{}", '{"SYNC": 1}', "not json",
                     '{"create_leads_for": "all"}', "[" * 5000, "x" * 100_000, "/", ".",
                     '{"path": "' + "y" * 5000 + '"}', "[" * 3000 + "]" * 3000]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kinds=st.lists(st.sampled_from(_MUTATIONS), max_size=2),
    seed=st.integers(0, 2**32 - 1),
    junk=st.text(max_size=40),
    env=st.dictionaries(st.sampled_from(_ENV_NAMES), _ENV_VALUES, max_size=3),
)
def test_property_mutated_config_and_variables_status_exits_0_or_2_naming_the_place(
    kinds: list[str], seed: int, junk: str, env: dict[str, str]
) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        config = _config(Path(tmp), '\n[sync]\nmappings_dir = "mappings"\n')
        content: str | bytes = config.read_text(encoding="utf-8")
        for kind in kinds:
            if isinstance(content, bytes):
                break
            content = _mutate(content, kind, rng, junk)
        if isinstance(content, bytes):
            config.write_bytes(content)
        else:
            config.write_text(content, encoding="utf-8", errors="surrogatepass")
        result = _status(config, env)
        _assert_exit_0_or_2_with_a_place(result, (str(config), "CONNECTOR_", "connector_"))
