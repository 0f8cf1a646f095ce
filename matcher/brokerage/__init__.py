"""What a broker gets beyond the ranked offers: exact nearest fits, the single changes
that make a package fit, split offers and the council's ranking policy."""

from pydantic import ConfigDict

# The match output's models list every key on every offer, so their JSON Schema (in
# serialization mode: `matching.match_json_schema`, `carematch schema --match`, and the
# service's OpenAPI document) marks every key required, defaults included.
OUTPUT_CONFIG = ConfigDict(json_schema_serialization_defaults_required=True)
