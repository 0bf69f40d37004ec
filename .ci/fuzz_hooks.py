"""Schemathesis hooks for `.ci/fuzz-api` (loaded through SCHEMATHESIS_HOOKS).

Two rules of cubby's API relate a value to something no schema can see, so
a generated request that the document calls valid would be refused for a
reason the document cannot state. These hooks make such requests meet the
rule, and only requests that already meet everything the document says:

* An asset upload is named after the md5 of its bytes (400 `md5_mismatch`
  otherwise): a valid name gets the md5 of the body actually sent, with
  the extension kept.
* An `Idempotency-Key` belongs to the first request that used it: the same
  key on a different request is 400 `idempotency_key_reused`. Generated
  keys repeat ("0", "A", ...), so each valid key gets a suffix that makes
  it unique, within the 255 characters.

Invalid names and keys are left as generated, so the negative cases still
test that the server refuses them.
"""

import hashlib
import itertools
import re

import schemathesis
from schemathesis.transport.serialization import serialize_binary

UPLOADS = {"/api/v1/assets/{name}", "/assets/{name}"}
NAME = re.compile(r"^[0-9a-f]{32}\.([A-Za-z0-9]+)$")
KEY = re.compile(r"^([ \t]*)([!-~]{1,255})([ \t]*)$")
_counter = itertools.count()


def _sent_bytes(case):
    body = getattr(case, "body", None)
    if body is None or type(body).__name__ == "NotSet":
        return b""
    return serialize_binary(body)


@schemathesis.hook
def before_call(ctx, case, kwargs):
    path = case.operation.path
    method = case.operation.method.upper()
    if method == "POST" and path in UPLOADS:
        name = (case.path_parameters or {}).get("name")
        match = NAME.match(name) if isinstance(name, str) else None
        if match:
            md5 = hashlib.md5(_sent_bytes(case)).hexdigest()
            case.path_parameters["name"] = f"{md5}.{match.group(1)}"
    headers = case.headers or {}
    for header in list(headers):
        if header.lower() != "idempotency-key":
            continue
        value = headers[header]
        match = KEY.match(value) if isinstance(value, str) else None
        if match:
            lead, key, trail = match.groups()
            suffix = f"-{next(_counter)}"
            headers[header] = lead + key[: 255 - len(suffix)] + suffix + trail
