"""OpenAPI v3 schemas of meta.k8s.io/v1 and the shared scalar types (Time, Quantity, ...).

Field names follow k8s.io/apimachinery/pkg/apis/meta/v1/types.go; descriptions are short
summaries in km's own words.
"""

from __future__ import annotations

from servers.apiserver.schemas._dsl import (
    INT_OR_STRING,
    META,
    QUANTITY,
    Obj,
    array,
    boolean,
    free,
    int64,
    integer,
    obj,
    ref,
    refs,
    string,
    string_map,
    strings,
    time,
)

_TIME: Obj = {
    "description": "Time is an RFC 3339 timestamp with second precision, in UTC (``...Z``).",
    "type": "string",
    "format": "date-time",
}
_MICRO_TIME: Obj = {
    "description": "MicroTime is an RFC 3339 timestamp with microsecond precision.",
    "type": "string",
    "format": "date-time",
}
_QUANTITY: Obj = {
    "description": "Quantity is a fixed-point number with an optional SI or binary suffix, "
    "such as 100m, 2, 1.5Gi or 500M.",
    "oneOf": [{"type": "string"}, {"type": "number"}],
}
_INT_OR_STRING: Obj = {
    "description": "IntOrString holds either an int32 or a string (a number or a name).",
    "format": "int-or-string",
    "oneOf": [{"type": "integer"}, {"type": "string"}],
}

_OWNER_REFERENCE = obj(
    "OwnerReference identifies an owning object; the garbage collector deletes dependents "
    "whose owners are gone.",
    {
        "apiVersion": string("API version of the referent."),
        "kind": string("Kind of the referent."),
        "name": string("Name of the referent."),
        "uid": string("UID of the referent."),
        "controller": boolean("If true, this reference points to the managing controller."),
        "blockOwnerDeletion": boolean(
            "If true, the owner cannot be deleted in the foreground until this reference is "
            "removed."
        ),
    },
    ("apiVersion", "kind", "name", "uid"),
)

_MANAGED_FIELDS_ENTRY = obj(
    "ManagedFieldsEntry records which manager owns which fields (server-side apply).",
    {
        "apiVersion": string("Version of the fields' schema."),
        "fieldsType": string("Format of fieldsV1: always FieldsV1."),
        "fieldsV1": free("The set of owned fields."),
        "manager": string("Name of the workflow managing these fields."),
        "operation": string("Apply or Update."),
        "subresource": string("Subresource used to update the object, if any."),
        "time": time("When the entry was last changed."),
    },
)

_OBJECT_META = obj(
    "ObjectMeta is metadata that all persisted resources must have.",
    {
        "name": string("Name must be unique within a namespace; it cannot be updated."),
        "generateName": string(
            "Prefix the server uses to generate a unique name when name is empty."
        ),
        "namespace": string("Namespace of the object; empty means the default namespace."),
        "selfLink": string("Deprecated; not set by km."),
        "uid": string("Unique identifier set by the server on creation; read-only."),
        "resourceVersion": string(
            "Opaque version of the object, used for optimistic concurrency and watch."
        ),
        "generation": int64("Sequence number of the desired state; set by the server."),
        "creationTimestamp": time("When the object was created; set by the server."),
        "deletionTimestamp": time("When the object will be deleted; set by the server."),
        "deletionGracePeriodSeconds": int64("Seconds allowed for graceful termination."),
        "labels": string_map("Key/value pairs used to organize and select objects."),
        "annotations": string_map("Unstructured key/value data stored with the object."),
        "ownerReferences": refs(META + "OwnerReference", "Objects this one depends on.",
                                key="uid", patch="merge"),
        "finalizers": array(string(), "Must be empty before the object is deleted.",
                            list_type="set", patch="merge"),
        "managedFields": refs(META + "ManagedFieldsEntry",
                              "Field ownership of server-side apply."),
    },
)

_LIST_META = obj(
    "ListMeta describes a list: its resourceVersion and the token for the next page.",
    {
        "resourceVersion": string("Version of the store the list was read at."),
        "continue": string("Opaque token to request the next page; empty on the last page."),
        "remainingItemCount": int64("Items left after this page, when known."),
        "selfLink": string("Deprecated; not set by km."),
    },
)

_LABEL_SELECTOR_REQUIREMENT = obj(
    "A selector requirement: a key, an operator and values.",
    {
        "key": string("The label key."),
        "operator": string("In, NotIn, Exists or DoesNotExist."),
        "values": strings("Values for In and NotIn; must be empty for Exists/DoesNotExist."),
    },
    ("key", "operator"),
)

_LABEL_SELECTOR = obj(
    "A label query over a set of resources; the requirements are ANDed.",
    {
        "matchExpressions": refs(META + "LabelSelectorRequirement",
                                 "List of selector requirements."),
        "matchLabels": string_map("Equality requirements: each key must equal its value."),
    },
)

_STATUS_CAUSE = obj(
    "StatusCause describes one cause of an error.",
    {
        "reason": string("Machine-readable cause, such as FieldValueRequired."),
        "message": string("Human-readable description of the cause."),
        "field": string("The field that caused the error, such as spec.containers[0].name."),
    },
)

_STATUS_DETAILS = obj(
    "StatusDetails says which object an error is about.",
    {
        "name": string("Name of the object."),
        "group": string("API group of the object."),
        "kind": string("Kind or resource of the object."),
        "uid": string("UID of the object."),
        "causes": refs(META + "StatusCause", "Causes of the error."),
        "retryAfterSeconds": integer("Seconds to wait before retrying."),
    },
)

_STATUS = obj(
    "Status is the result of an operation that does not return an object, such as an error.",
    {
        "apiVersion": string("APIVersion of this object."),
        "kind": string("Status."),
        "metadata": ref(META + "ListMeta", "Standard list metadata."),
        "status": string("Success or Failure."),
        "message": string("Human-readable description of the status."),
        "reason": string("Machine-readable reason, such as NotFound."),
        "details": ref(META + "StatusDetails", "Extra data about the reason."),
        "code": integer("Suggested HTTP status code."),
    },
    gvk=("", "v1", "Status"),
)

_DELETE_OPTIONS = obj(
    "DeleteOptions may be provided when deleting an object.",
    {
        "apiVersion": string("APIVersion of this object."),
        "kind": string("DeleteOptions."),
        "gracePeriodSeconds": int64("Seconds before the object is deleted; 0 means now."),
        "preconditions": free("uid and resourceVersion that must match."),
        "orphanDependents": boolean("Deprecated: use propagationPolicy."),
        "propagationPolicy": string("Orphan, Background or Foreground."),
        "dryRun": strings("All means do not persist."),
        "ignoreStoreReadErrorWithClusterBreakingPotential": boolean(
            "Delete a corrupt object that cannot be read (unsafe)."),
    },
    gvk=("", "v1", "DeleteOptions"),
)

_WATCH_EVENT = obj(
    "An event of a watch stream.",
    {"type": string("ADDED, MODIFIED, DELETED, BOOKMARK or ERROR."),
     "object": free("The object of the event; a Status for ERROR.")},
    ("type", "object"),
)

_PATCH: Obj = {
    "description": "Patch is the body of a PATCH request, in the format of its Content-Type.",
    "type": "object",
}

#: meta.k8s.io/v1 and scalar schemas, by full name.
SCHEMAS: dict[str, Obj] = {
    META + "Time": _TIME,
    META + "MicroTime": _MICRO_TIME,
    QUANTITY: _QUANTITY,
    INT_OR_STRING: _INT_OR_STRING,
    META + "OwnerReference": _OWNER_REFERENCE,
    META + "ManagedFieldsEntry": _MANAGED_FIELDS_ENTRY,
    META + "ObjectMeta": _OBJECT_META,
    META + "ListMeta": _LIST_META,
    META + "LabelSelectorRequirement": _LABEL_SELECTOR_REQUIREMENT,
    META + "LabelSelector": _LABEL_SELECTOR,
    META + "StatusCause": _STATUS_CAUSE,
    META + "StatusDetails": _STATUS_DETAILS,
    META + "Status": _STATUS,
    META + "DeleteOptions": _DELETE_OPTIONS,
    META + "WatchEvent": _WATCH_EVENT,
    META + "Patch": _PATCH,
}
