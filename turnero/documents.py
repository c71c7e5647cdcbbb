"""Identity documents accepted at a sede, and the RENIEC check character of a DNI."""
import re

from turnero.errors import invalid

DOCUMENT_TYPES = ("DNI", "CE", "PASAPORTE", "PTP", "OTRO")
_DNI_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)
_PATTERNS = {
    "CE": re.compile(r"[A-Z0-9]{8,12}"),
    "PASAPORTE": re.compile(r"[A-Z0-9]{4,15}"),
    "PTP": re.compile(r"[A-Z0-9]{4,15}"),
    "OTRO": re.compile(r"[A-Z0-9]{4,15}"),
}


def dni_check_characters(number: str) -> tuple[str, str]:
    """The two valid check characters (digit, letter) of an 8-digit DNI."""
    total = sum(int(digit) * weight for digit, weight in zip(number, _DNI_WEIGHTS))
    index = total % 11
    return "65432110987"[index], "KJIHGFEDCBA"[index]


def validate_document(document) -> dict | None:
    """Normalize ``{"type", "number", "check"?}``; raises 422 ``invalid_document``."""
    if document is None:
        return None
    doc_type = str(document.get("type", "")).strip().upper()
    number = str(document.get("number", "")).strip().upper().replace(" ", "")
    check = document.get("check")
    if doc_type not in DOCUMENT_TYPES:
        raise invalid("invalid_document", f"Tipo de documento desconocido: {doc_type or '(vacío)'}. "
                      f"Use {', '.join(DOCUMENT_TYPES)}.")
    if doc_type == "DNI":
        if not re.fullmatch(r"[0-9]{8}", number):  # not \d: it also matches other scripts' digits
            raise invalid("invalid_document", "El DNI debe tener 8 dígitos.")
        if check not in (None, ""):
            check = str(check).strip().upper()
            if check not in dni_check_characters(number):
                raise invalid("invalid_document", "El carácter de verificación del DNI no corresponde.")
        return {"type": "DNI", "number": number}
    if not _PATTERNS[doc_type].fullmatch(number):
        limits = "8 a 12" if doc_type == "CE" else "4 a 15"
        raise invalid("invalid_document", f"El número de {doc_type} debe tener de {limits} letras o dígitos.")
    return {"type": doc_type, "number": number}
