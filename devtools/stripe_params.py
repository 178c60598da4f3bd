"""Write ``tests/data/stripe_params.json``: what Stripe's SDKs declare each request takes.

Stripe cannot be reached from the test suite, but every stripe-python release
is generated from Stripe's API specification for one API version and declares
each request's parameters as ``TypedDict``s (``SubscriptionService.CreateParams``
in v10, ``stripe.params.SubscriptionCreateParams`` in v16) and each object's
fields (``latest_invoice: Optional[ExpandableField["Invoice"]]``).  This script
reads two releases:

- ``PINNED_SDK`` (stripe-python v10.12.0, the last release generated for the
  gateway's pinned ``2024-06-20``), fetched with ``pip download`` into a
  temporary directory and imported from there in a subprocess;
- the installed release (the current one, 16.1.0 at ``2026-10-28.endive``).

For every request path the gateway may use (``PATH_PREFIXES``) it writes the
allowed parameter keys recursively (``{"keys": {...}}`` for a declared
dictionary, ``"any"`` for free-form ones such as ``metadata``, ``null`` for a
scalar) and the class the request answers with; for every class reachable
from those answers, which fields can be expanded (an ``ExpandableField``, or a
list Stripe includes only when asked, such as ``charge.refunds``) and which
are nested objects an expand path may go through.  ``REFUSED`` adds what
Stripe refuses although the SDK still declares it (from Stripe's changelog,
see /work/shared/FACTS.md).

The test suite (``tests/stripe_requests.py``) reads the file and checks every
request the gateway made; nothing is downloaded when the tests run.

Usage: ``python -m devtools.stripe_params`` (rewrites the data file).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import pkgutil
import re
import subprocess
import sys
import tempfile
import types
import typing
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA_FILE = ROOT / "tests" / "data" / "stripe_params.json"
PINNED_SDK = "10.12.0"

#: The resources the service talks to (a request elsewhere fails the check as undeclared).
PATH_PREFIXES = (
    "/v1/balance_transactions",
    "/v1/charges",
    "/v1/customers",
    "/v1/events",
    "/v1/invoices",
    "/v1/mandates",
    "/v1/payment_intents",
    "/v1/payment_methods",
    "/v1/payouts",
    "/v1/plans",
    "/v1/prices",
    "/v1/products",
    "/v1/refunds",
    "/v1/setup_intents",
    "/v1/subscriptions",
    "/v1/webhook_endpoints",
)

#: Declared by the SDK but refused by Stripe at that version: "METHOD path" -> parameter paths.
REFUSED: dict[str, dict[str, list[str]]] = {
    # 2025-09-30.clover and later: the payment methods come from the dashboard settings
    # (dynamic payment methods); FACTS.md: at endive Stripe refuses ``payment_method_types``.
    "2026-10-28.endive": {
        "POST /v1/payment_intents": ["payment_method_types"],
        "POST /v1/setup_intents": ["payment_method_types"],
    },
}

#: ``RequestOptions`` keys, which v16's params types inherit; they are headers, never parameters.
OPTION_KEYS = frozenset(
    {"api_key", "content_type", "headers", "idempotency_key", "max_network_retries"}
    | {"stripe_account", "stripe_context", "stripe_version"}
)
REQUEST_CALL = re.compile(r'self\._request(?:_async)?\(\s*"(\w+)",\s*"([^"]+)"')
RETURN_NAME = re.compile(r"(ListObject|SearchResultObject)?\[?\"?'?(\w+)")


class _Lenient(dict[str, Any]):
    """Names only imported for type checkers resolve from ``stripe.params``, ``stripe``, or ``Any``."""

    def __init__(self, module_globals: dict[str, Any]) -> None:
        super().__init__(module_globals)

    def __missing__(self, name: str) -> Any:
        import stripe

        params = getattr(stripe, "params", None)
        for home in (params, stripe, typing):
            if home is not None:
                try:
                    return getattr(home, name)
                except AttributeError:
                    continue
        return Any


def _evaluate(annotation: Any, namespace: dict[str, Any]) -> Any:
    text = annotation.__forward_arg__ if isinstance(annotation, typing.ForwardRef) else annotation
    if isinstance(text, str):
        try:
            return eval(text, {}, _Lenient(namespace))  # noqa: S307 - the SDK's own annotations
        except Exception:  # an annotation we cannot read is taken as a plain value
            return Any
    return annotation


def _namespace(cls: Any) -> dict[str, Any]:
    return vars(sys.modules[cls.__module__])


def _merge(a: Any, b: Any) -> Any:
    if a == "any" or b == "any":
        return "any"
    if a is None:
        return b
    if b is None:
        return a
    keys = dict(a["keys"])
    for name, node in b["keys"].items():
        keys[name] = _merge(keys[name], node) if name in keys else node
    return {"keys": keys}


def param_node(annotation: Any, namespace: dict[str, Any], seen: frozenset[int] = frozenset()) -> Any:
    """``None`` (a value), ``"any"`` (free-form keys) or ``{"keys": {name: node}}``."""
    import typing_extensions as te

    tp = _evaluate(annotation, namespace)
    origin, args = te.get_origin(tp), te.get_args(tp)
    if origin in (te.NotRequired, te.Required, te.Annotated):
        return param_node(args[0], namespace, seen)
    if origin in (typing.Union, types.UnionType):  # Union[A, B], or "A|B" in a forward reference
        node = None
        for arg in args:
            node = _merge(node, param_node(arg, namespace, seen))
        return node
    if origin in (list, typing.List, tuple):  # noqa: UP006 - what the SDK writes
        return param_node(args[0], namespace, seen) if args else None
    if origin in (dict, typing.Dict) or tp in (dict, typing.Dict):  # noqa: UP006
        return "any"
    if te.is_typeddict(tp):
        if id(tp) in seen:
            return "any"
        inner = seen | {id(tp)}
        return {
            "keys": {
                name: param_node(value, _namespace(tp), inner)
                for name, value in sorted(tp.__annotations__.items())
            }
        }
    return None


def _class_name(cls: type) -> str:
    return cls.__qualname__


def _resolve_class(annotation: Any, owner: type) -> type | None:
    import stripe

    if isinstance(annotation, type):
        return annotation
    name = annotation.__forward_arg__ if isinstance(annotation, typing.ForwardRef) else annotation
    if not isinstance(name, str):
        return None
    name = name.strip("\"'")
    for home in (owner, sys.modules[owner.__module__], stripe):
        found = getattr(home, name, None)
        if isinstance(found, type):
            return found
    return None


def object_fields(cls: type) -> dict[str, Any]:
    """The fields of ``cls`` an expand path can name: ``{"expand": X}``, ``{"list": X}``, ``{"object": X}``."""
    import stripe
    import typing_extensions as te

    fields: dict[str, Any] = {}
    annotations: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        annotations.update(vars(klass).get("__annotations__", {}))
    for name, annotation in sorted(annotations.items()):
        tp = (
            _evaluate(annotation, {**_namespace(cls), **vars(cls)})
            if isinstance(annotation, str)
            else annotation
        )
        union = te.get_origin(tp) in (typing.Union, types.UnionType)
        alternatives = te.get_args(tp) if union else (tp,)
        has_str = str in alternatives
        for alt in alternatives:
            if alt in (str, type(None)):
                continue
            if (
                te.get_origin(alt) is stripe.ListObject
                or getattr(alt, "__origin__", None) is stripe.ListObject
            ):
                target = _resolve_class(te.get_args(alt)[0], cls) if te.get_args(alt) else None
                if target is not None:
                    fields[name] = {"list": _class_name(target)}
                break
            target = _resolve_class(alt, cls)
            if target is not None and issubclass(target, stripe.StripeObject):
                fields[name] = {"expand" if has_str else "object": _class_name(target)}
                break
    return fields


def _service_modules() -> list[Any]:
    import stripe

    modules = []
    for info in pkgutil.iter_modules(stripe.__path__):
        if info.name.startswith("_") and info.name.endswith("_service"):
            modules.append(importlib.import_module(f"stripe.{info.name}"))
    return modules


def _returned(signature: inspect.Signature, namespace: dict[str, Any]) -> tuple[str | None, bool]:
    text = signature.return_annotation
    if isinstance(text, type):
        text = text.__name__
    elif not isinstance(text, str):  # ListObject[Customer] evaluated: drop the module paths
        text = re.sub(r"[\w.]*\.(\w+)", r"\1", repr(text))
    match = RETURN_NAME.search(text.replace('"', "").replace("'", ""))
    if not match:
        return None, False
    return match.group(2), bool(match.group(1))


def extract() -> dict[str, Any]:
    """Everything the running ``stripe`` package declares for ``PATH_PREFIXES``."""
    import stripe
    from stripe._stripe_service import StripeService

    requests: dict[str, Any] = {}
    classes: dict[str, type] = {}
    for module in _service_modules():
        for service in vars(module).values():
            if not (isinstance(service, type) and issubclass(service, StripeService)):
                continue
            for name, method in vars(service).items():
                if name.startswith("_") or name.endswith("_async") or not callable(method):
                    continue
                found = REQUEST_CALL.search(inspect.getsource(method))
                if not found or not found.group(2).startswith(PATH_PREFIXES):
                    continue
                verb, path = found.group(1).upper(), found.group(2)
                signature = inspect.signature(method)
                params = signature.parameters.get("params")
                node = param_node(params.annotation, vars(module)) if params is not None else None
                if isinstance(node, dict):  # v16's params also declare the request options
                    node = {"keys": {k: v for k, v in node["keys"].items() if k not in OPTION_KEYS}}
                returned, is_list = _returned(signature, vars(module))
                cls = getattr(stripe, returned, None) if returned else None
                if isinstance(cls, type):
                    classes[cls.__qualname__] = cls
                requests[f"{verb} {path}"] = {
                    "params": node or {"keys": {}},
                    "returns": cls.__qualname__ if isinstance(cls, type) else None,
                    "list": is_list,
                }
    objects: dict[str, Any] = {}
    todo = list(classes.values())
    while todo:
        cls = todo.pop()
        if _class_name(cls) in objects:
            continue
        fields = object_fields(cls)
        objects[_class_name(cls)] = fields
        for field in fields.values():
            target = _resolve_class(next(iter(field.values())), cls)
            if target is None:
                target = _find_nested(cls, next(iter(field.values())))
            if target is not None and _class_name(target) not in objects:
                todo.append(target)
    return {
        "sdk": stripe.VERSION,
        "api_version": stripe.api_version,
        "requests": dict(sorted(requests.items())),
        "objects": dict(sorted(objects.items())),
    }


def _find_nested(owner: type, qualname: str) -> type | None:
    import stripe

    found: Any = stripe
    for part in qualname.split("."):
        found = getattr(found, part, None)
        if found is None:
            found = owner
            for inner in qualname.split(".")[1:]:
                found = getattr(found, inner, None)
            break
    return found if isinstance(found, type) else None


def _run_extract(extra_path: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, str(ROOT)) if p)
    out = subprocess.run(
        [sys.executable, "-m", "devtools.stripe_params", "--extract"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    data: dict[str, Any] = json.loads(out)
    return data


def _pinned_sdk(directory: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            f"stripe=={PINNED_SDK}",
            "-d",
            str(directory),
        ],
        check=True,
    )
    wheel = next(directory.glob("stripe-*.whl"))
    target = directory / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--extract", action="store_true", help="print what the importable stripe declares")
    parser.add_argument("--output", type=Path, default=DATA_FILE)
    args = parser.parse_args()
    if args.extract:
        json.dump(extract(), sys.stdout)
        return
    with tempfile.TemporaryDirectory() as tmp:
        pinned = _run_extract(str(_pinned_sdk(Path(tmp))))
    current = _run_extract(None)
    if pinned["sdk"] != PINNED_SDK:
        raise SystemExit(f"expected stripe {PINNED_SDK}, imported {pinned['sdk']}")
    versions = {}
    for data in (pinned, current):
        data["refused"] = REFUSED.get(data["api_version"], {})
        versions[data["api_version"]] = data
    document = {
        "generated_by": "python -m devtools.stripe_params",
        "pinned": pinned["api_version"],
        "current": current["api_version"],
        "versions": versions,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.output.relative_to(ROOT)}: stripe {pinned['sdk']} and {current['sdk']}")


if __name__ == "__main__":
    main()
