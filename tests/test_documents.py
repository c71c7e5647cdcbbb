"""DNI check characters (RENIEC algorithm) and the other document types."""
import pytest

from turnero.documents import dni_check_characters, validate_document
from turnero.errors import DomainError


def reference_check(number: str) -> tuple[str, str]:
    # Written out independently of the module: weights 3,2,7,6,5,4,3,2; c = sum % 11.
    weights = [3, 2, 7, 6, 5, 4, 3, 2]
    c = sum(int(d) * w for d, w in zip(number, weights)) % 11
    return "65432110987"[c], "KJIHGFEDCBA"[c]


@pytest.mark.parametrize("number", ["10000001", "45678912", "07654321", "72345678", "00000000", "99999999"])
def test_check_characters_match_the_algorithm(number):
    assert dni_check_characters(number) == reference_check(number)


def test_worked_example():
    # 12345678: 3*1+2*2+7*3+6*4+5*5+4*6+3*7+2*8 = 138; 138 % 11 = 6 -> digit '1', letter 'E'
    assert dni_check_characters("12345678") == ("1", "E")


@pytest.mark.parametrize("check", ["1", "E", "e"])
def test_valid_dni_with_check(check):
    assert validate_document({"type": "DNI", "number": "12345678", "check": check}) == \
        {"type": "DNI", "number": "12345678"}


@pytest.mark.parametrize("document", [
    {"type": "DNI", "number": "12345678", "check": "2"},
    {"type": "DNI", "number": "12345678", "check": "F"},
    {"type": "DNI", "number": "1234567"},
    {"type": "DNI", "number": "1234567A"},
    {"type": "CE", "number": "1234567"},
    {"type": "CE", "number": "1234567890123"},
    {"type": "PASAPORTE", "number": "AB1"},
    {"type": "PTP", "number": "ÑÑÑÑ"},
    {"type": "LIBRETA", "number": "12345678"},
    {"type": "", "number": "12345678"},
])
def test_invalid_documents(document):
    with pytest.raises(DomainError) as info:
        validate_document(document)
    assert info.value.code == "invalid_document" and info.value.status == 422


def test_other_types_normalize():
    assert validate_document({"type": "ce", "number": "ab123456"}) == {"type": "CE", "number": "AB123456"}
    assert validate_document({"type": "PASAPORTE", "number": "x1234"}) == {"type": "PASAPORTE", "number": "X1234"}
    assert validate_document(None) is None
