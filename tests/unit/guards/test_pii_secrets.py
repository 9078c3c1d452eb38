"""Secrets: provider prefixes, labelled passwords and keys, URL credentials, and code that only names them."""

from __future__ import annotations

import pytest

from bastion.guards.pii import PiiDetector

DETECTOR = PiiDetector()

# made-up keys in each provider's format (none of them is a real credential)
ALNUM = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4y5Z6"
KEYS = {
    "openai": "sk-" + ALNUM[:48],
    "openai project": "sk-proj-" + ALNUM[:40] + "_" + ALNUM[:20],
    "anthropic": "sk-ant-api03-" + ALNUM[:40] + "-" + ALNUM[:20],
    "aws access key id": "AKIA" + "Z7QXHB2MIO4PLK3N",
    "aws sts key id": "ASIA" + "Q4D6N1XZ8WT2MB5R",
    "github classic": "ghp_" + ALNUM[:36],
    "github oauth": "gho_" + ALNUM[:36],
    "github app": "ghs_" + ALNUM[:36],
    "github fine-grained": "github_pat_11ABCDEFG0" + ALNUM[:40],
    "gitlab": "glpat-" + ALNUM[:20],
    "slack bot": "xoxb-" + "123456789012-1234567890123-" + ALNUM[:24],
    "slack user": "xoxp-" + "123456789012-1234567890123-123456789012-" + ALNUM[:32],
    "slack app": "xapp-1-A052FGTS2DL-5171572773297-" + ALNUM[:40],
    "slack webhook": "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/" + ALNUM[:24],
    "stripe secret": "sk_live_" + ALNUM[:24],
    "stripe restricted": "rk_live_" + ALNUM[:24],
    "stripe webhook": "whsec_" + ALNUM[:32],
    "google api": "AIza" + ALNUM[:35],
    "google oauth secret": "GOCSPX-" + ALNUM[:28],
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "twilio api key": "SK" + "0123456789abcdef" * 2,
    "sendgrid": "SG." + ALNUM[:22] + "." + ALNUM[:43],
    "npm": "npm_" + ALNUM[:36],
    "hugging face": "hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH",
    "groq": "gsk_" + ALNUM[:48],
    "pypi": "pypi-AgEIcHlwaS5vcmc" + ALNUM[:50],
    "bastion": "bst_" + ALNUM[:43],
}


@pytest.mark.parametrize("provider", sorted(KEYS))
def test_provider_keys_detected(provider: str) -> None:
    key = KEYS[provider]
    assert [(f.kind, f.text) for f in DETECTOR.find(f"oops, pasted {key} by mistake")] == [("SECRET", key)]


def test_private_key_blocks_of_every_flavour() -> None:
    for header in (
        "RSA PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
        "PGP PRIVATE KEY BLOCK",
    ):
        block = f"-----BEGIN {header}-----\nMIIEowIBAAKCAQEA\n-----END {header}-----"
        assert [(f.kind, f.text) for f in DETECTOR.find(f"key:\n{block}\n")] == [("SECRET", block)]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("password: Summer2024!", "Summer2024!"),
        ('"password": "hunter2hunter2x"', "hunter2hunter2x"),
        ("DB_PASSWORD=pa55w0rd-prod", "pa55w0rd-prod"),
        ("my password is Tr0ub4dor&3", "Tr0ub4dor&3"),
        ("twilio auth_token = 0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYz9Q2k8Lm1",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYz9Q2k8Lm1",
        ),
        ("Authorization: Bearer 7f3c9a1e5b2d8f4a6c0e", "7f3c9a1e5b2d8f4a6c0e"),
        ("postgres://app:s3cretPw9@db.internal:5432/orders", "s3cretPw9"),
    ],
)
def test_labelled_and_url_secrets_detected(text: str, secret: str) -> None:
    assert [(f.kind, f.text) for f in DETECTOR.find(text)] == [("SECRET", secret)]


@pytest.mark.parametrize(
    "text",
    [
        "api_key=YOUR_API_KEY",
        "token: expired",
        "password: reset link sent",
        "password=${DB_PASSWORD}",
        "api_key: <your key here>",
        "secret = os.environ['SECRET']",
        "token = tokenizer.encode(text)",
        "password = hash_password(pw, salt2)",
        "max token: 4096",
        "token: 2024-01-15",
        "password: ********",
        "postgres://user:password@localhost/db",  # the documentation placeholder
        "api_key = xxxxxxxxxxxxxxxx",
        "the bearer of this letter",
        "hf_requiredCharacteristicTypesForDisplay",  # an identifier, not a Hugging Face token
        "sk-learn is a library",
    ],
)
def test_names_templates_and_placeholders_are_not_secrets(text: str) -> None:
    assert DETECTOR.find(text) == []
