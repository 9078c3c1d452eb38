"""Generate extra labelled PII cases (national ids, addresses, secrets, hard negatives).

Valid ids are made with python-stdnum's check-digit functions (an implementation independent of
Bastion's validators); invalid ones by changing the check digit. Appends JSON lines to stdout
(needs python-stdnum, in the test extra):

    .venv/bin/python bench/guards/pii_cases_gen.py >> bench/guards/pii_cases.jsonl
"""

import json
import random
import string
import sys

from stdnum import luhn, verhoeff
from stdnum.br import cpf
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.iso7064 import mod_11_10
from stdnum.it import codicefiscale
from stdnum.nl import bsn

rng = random.Random(20261127)
D = "0123456789"
U = string.ascii_uppercase
ALNUM = string.ascii_letters + string.digits


def digits(n):
    return "".join(rng.choice(D) for _ in range(n))


def bump(ch):
    if ch.isdigit():
        return str((int(ch) + rng.randrange(1, 10)) % 10)
    return rng.choice([c for c in U if c != ch])


# --- valid id generators (compact) -------------------------------------------------------------
def gen_nino():
    first = rng.choice([c for c in U if c not in "DFIQUV"])
    second = rng.choice([c for c in U if c not in "DFIOQUV"])
    if first + second in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
        return gen_nino()
    return first + second + digits(6) + rng.choice("ABCD")


def gen_dni():
    n = digits(8)
    return n + dni.calc_check_digit(n)


def gen_nie():
    n = rng.choice("XYZ") + digits(7)
    return n + nie.calc_check_digit(n)


def gen_cf():
    body = "".join(rng.choice(U) for _ in range(6)) + digits(2) + rng.choice("ABCDEHLMPRST")
    day = rng.randrange(1, 29) + rng.choice([0, 40])
    body += f"{day:02d}" + rng.choice(U) + digits(3)
    return body + codicefiscale.calc_check_digit(body)


def gen_cpf():
    while True:
        n = digits(9)
        d = cpf._calc_check_digits(n + "00")
        full = n + d
        if cpf.is_valid(full) and full != full[0] * 11:
            return full


def gen_bsn():
    while True:
        n = digits(9)
        if n[0] != "0" and bsn.is_valid(n):
            return n


def gen_aadhaar():
    while True:
        n = rng.choice("23456789") + digits(10)
        full = n + verhoeff.calc_check_digit(n)
        if full != full[::-1]:
            return full


def gen_idnr():
    from stdnum.de import idnr

    while True:
        first10 = rng.sample(D, 9)
        first10.insert(rng.randrange(10), rng.choice(first10))
        s = "".join(first10)
        if s[0] == "0":
            continue
        full = s + mod_11_10.calc_check_digit(s)
        if idnr.is_valid(full):
            return full


def gen_sin():
    while True:
        n = rng.choice("1234567") + digits(7)
        full = n + luhn.calc_check_digit(n)
        return full


def gen_nir():
    body = (
        rng.choice("12")
        + digits(2)
        + f"{rng.randrange(1, 13):02d}"
        + f"{rng.randrange(1, 96):02d}"
        + digits(6)
    )
    return body + nir.calc_check_digits(body + "00")


def gen_pnr():
    body = f"{rng.randrange(40, 100):02d}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}" + digits(3)
    return body + luhn.calc_check_digit(body)


# --- formatting --------------------------------------------------------------------------------
def fmt_nino(v):
    return rng.choice([v, f"{v[:2]} {v[2:4]} {v[4:6]} {v[6:8]} {v[8]}"])


def fmt_sin(v):
    return rng.choice([v, f"{v[:3]} {v[3:6]} {v[6:]}", f"{v[:3]}-{v[3:6]}-{v[6:]}"])


def fmt_aadhaar(v):
    return rng.choice([v, f"{v[:4]} {v[4:8]} {v[8:]}", f"{v[:4]}-{v[4:8]}-{v[8:]}"])


def fmt_idnr(v):
    return rng.choice([v, f"{v[:2]} {v[2:5]} {v[5:8]} {v[8:]}"])


def fmt_bsn(v):
    return rng.choice([v, f"{v[:4]}.{v[4:6]}.{v[6:]}"])


def fmt_cpf(v):
    return f"{v[:3]}.{v[3:6]}.{v[6:9]}-{v[9:]}"


def fmt_nir(v):
    return rng.choice([v, f"{v[0]} {v[1:3]} {v[3:5]} {v[5:7]} {v[7:10]} {v[10:13]} {v[13:]}"])


def fmt_pnr(v):
    return rng.choice([f"{v[:6]}-{v[6:]}", v])


def fmt_nie(v):
    return rng.choice([v, f"{v[0]}-{v[1:8]}-{v[8]}"])


# scheme: (generator, formatter, templates with a label or none needed)
NATIONAL = {
    "nino": (
        gen_nino,
        fmt_nino,
        [
            "For the payroll form my NI number is {v}.",
            "National Insurance number: {v}",
            "NINO {v} for HMRC",
            "my national insurance number {v} was rejected",
            "employee {v} starts Monday",
        ],
    ),
    "dni": (
        gen_dni,
        lambda v: v,
        [
            "Mi DNI es {v} y necesito la factura.",
            "DNI: {v}",
            "please update the DNI to {v}",
            "holder id {v}",
        ],
    ),
    "nie": (gen_nie, fmt_nie, ["NIE {v} (residencia)", "mi NIE es {v}", "the NIE on file is {v}"]),
    "cf": (
        gen_cf,
        lambda v: v,
        [
            "Il mio codice fiscale è {v}.",
            "codice fiscale: {v}",
            "CF {v} per la fattura",
            "tax code {v} on the invoice",
        ],
    ),
    "cpf_formatted": (gen_cpf, fmt_cpf, ["CPF do titular: {v}", "meu CPF é {v}", "billing CPF {v}"]),
    "cpf": (gen_cpf, lambda v: v, ["CPF: {v}", "CPF {v} para nota fiscal", "o CPF é {v}"]),
    "bsn": (
        gen_bsn,
        fmt_bsn,
        ["BSN: {v} (for the tax office)", "mijn BSN is {v}", "burgerservicenummer {v}", "BSN nr. {v}"],
    ),
    "aadhaar": (
        gen_aadhaar,
        fmt_aadhaar,
        [
            "Aadhaar no. {v} is linked to this account",
            "my Aadhaar number is {v}",
            "Aadhaar: {v}",
            "UID {v} for KYC",
        ],
    ),
    "idnr": (
        gen_idnr,
        fmt_idnr,
        [
            "Steuer-ID {v} fehlt auf der Rechnung",
            "meine Steuer-ID ist {v}",
            "Steueridentifikationsnummer: {v}",
            "IdNr {v}",
            "tax id: {v}",
        ],
    ),
    "sin": (
        gen_sin,
        fmt_sin,
        ["SIN: {v}", "my social insurance number is {v}", "SIN {v} for the T4", "SIN no. {v}"],
    ),
    "nir": (
        gen_nir,
        fmt_nir,
        [
            "numéro de sécurité sociale : {v}",
            "mon numéro INSEE est {v}",
            "NIR {v}",
            "sécurité sociale n° {v}",
        ],
    ),
    "pnr": (
        gen_pnr,
        fmt_pnr,
        ["personnummer {v}", "mitt personnummer är {v}", "personal identity number: {v}"],
    ),
}


def bad_variant(scheme, v):
    """The same id with its check character changed (what must be rejected)."""
    if scheme == "nino":
        return rng.choice(["QQ", "BG", "GB", "ZZ", "DA", "AO"]) + v[2:]
    if scheme == "cf":
        return v[:-1] + bump(v[-1])
    if scheme in ("dni", "nie"):
        return v[:-1] + bump(v[-1])
    if scheme == "nir":
        return v[:-2] + f"{(int(v[-2:]) + rng.randrange(1, 96)) % 97:02d}"
    return v[:-1] + bump(v[-1])


FILLERS = [
    "Hi team,",
    "Hello,",
    "Thanks in advance.",
    "Any update?",
    "This is urgent!",
    "Regards, Sam",
    "Following up on my earlier ticket.",
    "Please advise.",
    "Cheers,",
]


def negative_national():
    scheme = rng.choice(list(NATIONAL))
    gen, fmt, templates = NATIONAL[scheme]
    v = gen()
    kind = rng.random()
    if kind < 0.45:  # bad checksum after the usual label
        return rng.choice(templates).format(v=fmt(bad_variant(scheme, v)))
    if kind < 0.75 and scheme not in ("nino", "dni", "nie", "cf", "cpf_formatted"):
        # a valid digit run without a label: an order number
        return rng.choice(
            [
                "order {v} shipped late",
                "invoice {v} attached",
                "ticket #{v} reopened",
                "tracking number {v} shows delivered",
                "reference {v} in the export",
            ]
        ).format(v=fmt(v))
    # a label followed by other words, then a number
    label = rng.choice(["BSN", "Aadhaar", "Steuer-ID", "SIN", "tax id", "CPF", "personnummer"])
    return rng.choice(
        [
            "{l} lookup failed for order {n}",
            "{l} field left blank, see ticket {n}",
            "{l} missing on invoice {n}",
            "the {l} check timed out after {s} seconds (job {n})",
        ]
    ).format(l=label, n=digits(rng.choice([9, 11, 12])), s=rng.randrange(5, 90))


def lookalike_national():
    return rng.choice(
        [
            "part AB{d6}E is on back order",
            "model X{d7} ships in May",
            "batch {d6}-{d4} passed QA",
            "serial {d8}K printed on the box",
            "SKU CX{d6}A missing",
            "the code {u6}{d2}A{d2}B{d3}Z is a voucher",
            "ref {d3}.{d3b}.{d3c}-{d2} is not ours",
        ]
    ).format(
        d6=digits(6),
        d7=digits(7),
        d4=digits(4),
        d8=digits(8),
        d3=digits(3),
        d2=digits(2),
        d3b=digits(3),
        d3c=digits(3),
        u6="".join(rng.choice(U) for _ in range(6)),
    )


# --- addresses ---------------------------------------------------------------------------------
STREETS = [
    "Main",
    "Oak",
    "Maple",
    "Elm",
    "Cedar",
    "Pine",
    "Washington",
    "Lake",
    "Hill",
    "Sunset",
    "Park",
    "Amphitheatre",
    "Market",
    "Mission",
    "Church",
    "High",
    "Station",
    "Victoria",
    "Baker",
    "Mill",
]
US_TYPES = [
    "St",
    "Street",
    "Ave",
    "Avenue",
    "Rd",
    "Road",
    "Blvd",
    "Lane",
    "Ln",
    "Dr",
    "Drive",
    "Parkway",
    "Way",
    "Court",
    "Pl",
]
CITIES = [
    ("Springfield", "IL"),
    ("Mountain View", "CA"),
    ("Austin", "TX"),
    ("Portland", "OR"),
    ("Boston", "MA"),
    ("New York", "NY"),
    ("Denver", "CO"),
    ("Seattle", "WA"),
    ("Miami", "FL"),
    ("Salt Lake City", "UT"),
]
UK_TOWNS = [
    ("London", "SW1A 2AA"),
    ("London", "NW1 6XE"),
    ("Leeds", "LS1 4AP"),
    ("Manchester", "M1 1AE"),
    ("Birmingham", "B33 8TH"),
    ("Croydon", "CR2 6XH"),
    ("London", "EC1A 1BB"),
    ("Glasgow", "G2 1DY"),
]
UK_TYPES = ["Street", "Road", "Lane", "Close", "Crescent", "Gardens", "Terrace", "Avenue", "Way"]


def us_address():
    number = str(rng.randrange(1, 9999)) + rng.choice(["", "", "", "B"])
    words = (
        rng.choice(STREETS)
        if rng.random() < 0.8
        else f"{rng.choice(['North', 'W.', 'S'])} {rng.choice(STREETS)}"
    )
    street = f"{number} {words} {rng.choice(US_TYPES)}"
    if rng.random() < 0.3:
        street += rng.choice([", Apt 4B", " Suite 200", ", Unit 7", " #12"])
    city, state = rng.choice(CITIES)
    zip_code = digits(5) + (f"-{digits(4)}" if rng.random() < 0.2 else "")
    return street + rng.choice([", ", "\n"]) + f"{city}, {state} {zip_code}"


def uk_address():
    number = str(rng.randrange(1, 300)) + rng.choice(["", "", "A"])
    town, postcode = rng.choice(UK_TOWNS)
    return f"{number} {rng.choice(STREETS)} {rng.choice(UK_TYPES)}, {town} {postcode}"


LABELLED_ADDRESSES = [
    "12 rue de la Paix, 75002 Paris",
    "Calle Mayor 5, 28013 Madrid",
    "Hauptstraße 5, 10115 Berlin",
    "Via Roma 12, 00184 Roma",
    "Flat 3, 27 Old Gloucester St., London",
    "Keizersgracht 123, 1015 CJ Amsterdam",
    "Rua Augusta 100, 1100-053 Lisboa",
    "Kungsgatan 4, 111 43 Stockholm",
]


def address_sentence():
    r = rng.random()
    if r < 0.4:
        v = us_address()
        return rng.choice(
            [
                "Please ship it to {v}.",
                "Our office moved to {v}.",
                "Ship to {v}\nThanks",
                "billing is still at {v}.",
            ]
        ), v
    if r < 0.7:
        v = uk_address()
        return rng.choice(
            ["Please send the card to {v}.", "I live at {v}.", "Delivery to {v}, not the old flat."]
        ), v
    v = rng.choice(LABELLED_ADDRESSES)
    return rng.choice(
        [
            "Address: {v}.",
            "Shipping address is {v}\nThanks",
            "Adresse: {v}\n",
            "my billing address - {v}. Please fix the invoice",
        ]
    ), v


def negative_address():
    return rng.choice(
        [
            "I waited 2 Hours. Way too long for a reply",
            "we shipped 300 units to the Main Street store",
            "postcode {pc} only, no street",
            "{city}, {st} {z} is where the warehouse is",
            "MAC address: 00:1A:2B:3C:4D:5E on the label",
            "email address: is missing on the form",
            "my address is on file, order {n}",
            "Address: N/A",
            "the top 10 Drive Tips article",
            "Route 66 Diner gift card",
            "see section 4 Main Findings of the report",
            "room 12 on the third floor",
            "the 5 Star Plan is cheaper",
        ]
    ).format(
        pc=rng.choice(UK_TOWNS)[1],
        city=rng.choice(CITIES)[0],
        st=rng.choice(CITIES)[1],
        z=digits(5),
        a=rng.randrange(256),
        b=rng.randrange(256),
        n=digits(6),
    )


# --- secrets -----------------------------------------------------------------------------------
def rand(n, alphabet=ALNUM):
    return "".join(rng.choice(alphabet) for _ in range(n))


def new_secret():
    hexd = "0123456789abcdef"
    v = rng.choice(
        [
            lambda: (
                "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ"
                + rand(40, ALNUM + "_-")
                + "."
                + rand(43, ALNUM + "_-")
            ),
            lambda: "SG." + rand(22, ALNUM + "_-") + "." + rand(43, ALNUM + "_-"),
            lambda: "npm_" + rand(36),
            lambda: "hf_" + rand(34, string.ascii_letters),
            lambda: "SK" + rand(32, hexd),
            lambda: "ghs_" + rand(36),
            lambda: "gho_" + rand(36),
            lambda: "github_pat_11" + rand(20, string.ascii_uppercase + string.digits) + "_" + rand(59),
            lambda: "xoxp-" + digits(12) + "-" + digits(12) + "-" + digits(12) + "-" + rand(32, hexd),
            lambda: (
                "xapp-1-A"
                + rand(10, string.ascii_uppercase + string.digits)
                + "-"
                + digits(13)
                + "-"
                + rand(64, hexd)
            ),
            lambda: (
                "https://hooks.slack.com/services/T" + rand(8, U + D) + "/B" + rand(8, U + D) + "/" + rand(24)
            ),
            lambda: "rk_live_" + rand(24),
            lambda: "whsec_" + rand(32),
            lambda: "GOCSPX-" + rand(28, ALNUM + "_-"),
            lambda: "bst_" + rand(43, ALNUM + "_-"),
            lambda: "sk-ant-api03-" + rand(80, ALNUM + "_-") + "AA",
            lambda: "sk-proj-" + rand(64, ALNUM + "_-"),
            lambda: "gsk_" + rand(48),
            lambda: "ASIA" + rand(16, U + D),
        ]
    )()
    return rng.choice(
        [
            "I accidentally pasted my key {v} in the last message, can you revoke it?",
            'config: token = "{v}"',
            "the token {v} stopped working",
            "export KEY={v}",
        ]
    ), v


def labelled_secret():
    r = rng.random()
    if r < 0.3:
        v = rand(rng.randrange(10, 16))
        while not (any(c.isdigit() for c in v) and any(c.isalpha() for c in v)):
            v = rand(12)
        return rng.choice(["password: {v}", "my password is {v}", "DB_PASSWORD={v}", '"password": "{v}"']), v
    if r < 0.5:
        v = rand(40, ALNUM + "/+")
        return rng.choice(["aws_secret_access_key = {v}", "AWS secret access key: {v}"]), v
    if r < 0.65:
        v = rand(32, "0123456789abcdef")
        return rng.choice(["twilio auth_token = {v}", "auth token: {v}"]), v
    if r < 0.8:
        v = rand(12, string.ascii_letters) + digits(2)
        return "the DSN is postgres://app:{v}@db.internal:5432/orders", v
    v = rand(24, ALNUM + "-_")
    return "Authorization: Bearer {v}", v


def negative_secret():
    return rng.choice(
        [
            "api_key=YOUR_API_KEY in the docs",
            "token: expired, please refresh",
            "password: reset link sent",
            "password=${DB_PASSWORD} in the compose file",
            "api_key: <your key here>",
            "token = tokenizer.encode(text)",
            "password = hash_password(pw, salt2)",
            "max token: 4096",
            "postgres://user:password@localhost/db",
            "api_key = xxxxxxxxxxxxxxxx",
            "we use sk-learn for the model",
            "hf_requiredCharacteristicTypesForDisplayMetadata",
            "the bearer of this letter",
            "secret = os.environ['APP_SECRET']",
            "token: 2024-01-15",
        ]
    )


# --- assemble ----------------------------------------------------------------------------------
def build(parts):
    """parts: list of (template, value, kind or None) / (text, None, 'NEG') -> case dict."""
    text = ""
    spans, negatives = [], []
    if rng.random() < 0.7:
        text = rng.choice(FILLERS) + " "
    for template, value, kind in parts:
        if kind == "NEG":
            start = len(text)
            text += template
            negatives.append({"start": start, "end": len(text)})
        elif kind == "FILL":
            text += template
        else:
            before, after = template.split("{v}")
            text += before
            start = len(text)
            text += value
            spans.append({"kind": kind, "start": start, "end": len(text)})
            text += after
        text += " "
    if rng.random() < 0.6:
        text += rng.choice(FILLERS)
    text = text.rstrip()
    for s in spans:
        assert text[s["start"] : s["end"]]
    return {"text": text, "spans": spans, "negatives": negatives}


def main():
    out = []
    # national ids: every scheme x several templates, valid values, with negatives mixed in
    for _scheme, (gen, fmt, templates) in NATIONAL.items():
        for i in range(12):
            template = templates[i % len(templates)]
            parts = [(template, fmt(gen()), "NATIONAL_ID")]
            if rng.random() < 0.6:
                parts.append((negative_national(), None, "NEG"))
            if rng.random() < 0.3:
                parts.append((lookalike_national(), None, "NEG"))
            rng.shuffle(parts)
            out.append(build(parts))
    for _ in range(40):  # negatives-only national texts
        out.append(build([(negative_national(), None, "NEG"), (lookalike_national(), None, "NEG")]))
    for _ in range(45):
        template, v = address_sentence()
        parts = [(template, v, "ADDRESS")]
        if rng.random() < 0.5:
            parts.append((negative_address(), None, "NEG"))
        rng.shuffle(parts)
        out.append(build(parts))
    for _ in range(20):
        out.append(build([(negative_address(), None, "NEG"), (negative_address(), None, "NEG")]))
    for _ in range(30):
        template, v = new_secret()
        parts = [(template, v, "SECRET")]
        if rng.random() < 0.5:
            parts.append((negative_secret(), None, "NEG"))
        rng.shuffle(parts)
        out.append(build(parts))
    for _ in range(25):
        template, v = labelled_secret()
        parts = [(template, v, "SECRET")]
        if rng.random() < 0.5:
            parts.append((negative_secret(), None, "NEG"))
        rng.shuffle(parts)
        out.append(build(parts))
    for _ in range(20):
        out.append(build([(negative_secret(), None, "NEG"), (negative_secret(), None, "NEG")]))
    for case in out:
        sys.stdout.write(json.dumps(case, ensure_ascii=False) + "\n")


main()
