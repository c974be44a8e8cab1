"""The shape of every id that ends up inside a Redis key or a token."""

import re

# No braces (they would break the session hash tag), no colons (key separators), no spaces.
ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
ID_RULE = "1-64 characters of letters, digits, '_', '-' or '.'"
