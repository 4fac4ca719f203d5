import pytest

from core.identity import canonical_email, parse_email


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Taro.Yamada@Example.co.jp", " taro.yamada@example.co.jp "),
        ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "taro@example.jp"),  # full-width, typed in Japan
        ("mailto:<Taro@Example.jp>", "taro@example.jp"),
        ('"Q"@X.com', '"q"@x.com'),  # not valid for writing, still compared consistently
    ],
)
def test_addresses_that_are_the_same_person_compare_equal(a: str, b: str) -> None:
    assert canonical_email(a) == canonical_email(b)


def test_a_usable_address_parses_to_its_canonical_form() -> None:
    assert parse_email(" Taro@Example.JP ").email == canonical_email("taro@example.jp")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "no email"),
        ("   ", "empty email"),
        ("no-at-sign.example.com", "exactly one @"),
        ('"q"@x.com', "invalid local part"),
        ("müller@bücher.de", "non-ASCII"),
    ],
)
def test_unusable_addresses_say_why(raw: object, reason: str) -> None:
    check = parse_email(raw)
    assert check.email is None and reason in (check.reason or "")
