"""OpenAPI v3 schema of core/v1 Secret (k8s.io/api v0.32)."""

from __future__ import annotations

from servers.apiserver.schemas._dsl import boolean, kind_header, map_of, obj, string, string_map

SCHEMAS = {
    "io.k8s.api.core.v1.Secret": obj(
        "Secret holds secret data of a certain type.",
        {**kind_header("In CamelCase."),
         "data": map_of(string(fmt="byte"), "Base64-encoded secret data; keys are "
                        "[-._a-zA-Z0-9]+."),
         "stringData": string_map("Write-only plain-text data, merged into data."),
         "type": string("Used to facilitate programmatic handling of secret data."),
         "immutable": boolean("If true, data cannot be changed.")},
        gvk=("", "v1", "Secret"),
    ),
}
