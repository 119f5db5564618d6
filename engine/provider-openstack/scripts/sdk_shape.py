"""What an installed Pulumi Python SDK (pulumi_openstack) expects of its provider's schema.

Read from the package's own source with `ast` (nothing is imported or executed): every resource
class token (from `_utilities.register(...)` in `__init__.py`), every function token (the token each
`invoke(...)` names), and for each of them the property names the SDK sends and reads, their types,
which are required and which are secret. Nested object types are read from `_inputs.py` /
`outputs.py`. The shape is normalised so that it can be compared with a Pulumi package schema:

    type strings:  "string" "integer" "number" "boolean" "any"
                   "array<T>" "map<T>" "ref:<TypeName>"   (TypeName as in the schema token, first
                                                           letter upper-cased; Args/Result dropped)

Used by `derive_tokens.py` (names only) and by tests/test_engine_openstack.py (everything).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

SCALARS = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "Any": "any"}
WRAPPERS = {"Input", "Output", "InputType", "Awaitable"}
SEQUENCES = {"Sequence", "List", "list"}
MAPPINGS = {"Mapping", "Dict", "dict"}


@dataclass
class Prop:
    type: str
    required: bool
    secret: bool = False


@dataclass
class Member:
    """A resource class or a function of the SDK."""

    token: str
    module: str  # the python module path inside the package, e.g. "compute/instance.py"
    name: str  # class or function name
    inputs: dict[str, Prop] = field(default_factory=dict)
    outputs: dict[str, Prop] = field(default_factory=dict)
    deprecated: Optional[str] = None  # the SDK's deprecation text, if any
    env: dict[str, str] = field(default_factory=dict)  # input name -> OS_* variable (provider only)


@dataclass
class Shape:
    resources: dict[str, Member]
    functions: dict[str, Member]
    provider: Member
    # nested object types, "module/TypeName" -> {property: Prop}, as the SDK's Args classes and
    # output classes have them
    input_types: dict[str, dict[str, Prop]]
    output_types: dict[str, dict[str, Prop]]


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return _dotted(node.value) + "." + node.attr
    return ""


def normalise_type_name(name: str) -> str:
    """'outputs.InstanceNetwork' / 'InstanceNetworkArgs' / 'GetInstanceV2NetworkResult' -> the
    schema's type name with an upper-case first letter ('InstanceNetwork', 'GetInstanceV2Network')."""
    name = name.rsplit(".", 1)[-1]
    for suffix in ("ArgsDict", "Args", "Result"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return name[:1].upper() + name[1:]


def annotation_type(node: ast.AST) -> tuple[str, bool]:
    """(normalised type, optional?) of a type annotation expression."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        inner = ast.parse(node.value, mode="eval").body
        if isinstance(inner, (ast.Name, ast.Attribute)) and _dotted(inner).rsplit(".", 1)[-1] not in SCALARS:
            return "ref:" + normalise_type_name(_dotted(inner)), False
        return annotation_type(inner)
    if isinstance(node, (ast.Name, ast.Attribute)):
        base = _dotted(node).rsplit(".", 1)[-1]
        if base in SCALARS:
            return SCALARS[base], False
        return "ref:" + normalise_type_name(base), False
    if isinstance(node, ast.Subscript):
        head = _dotted(node.value).rsplit(".", 1)[-1]
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head in WRAPPERS:
            return annotation_type(args[0])
        if head == "Optional":
            t, _ = annotation_type(args[0])
            return t, True
        if head == "Union":  # Union['XArgs', 'XArgsDict', 'outputs.X']: the first names the type
            return annotation_type(args[0])
        if head in SEQUENCES:
            t, _ = annotation_type(args[0])
            return f"array<{t}>", False
        if head in MAPPINGS:
            t, _ = annotation_type(args[-1])
            return f"map<{t}>", False
    raise ValueError(f"unsupported annotation: {ast.unparse(node)}")


def optional_depth(node: ast.AST) -> int:
    """How many Optional[...] wrap a type inside its Input/Output wrappers."""
    depth = 0
    while isinstance(node, ast.Subscript):
        head = _dotted(node.value).rsplit(".", 1)[-1]
        if head == "Optional":
            depth += 1
        elif head not in WRAPPERS:
            break
        node = node.slice
    return depth


def _getter_name(fn: ast.FunctionDef) -> Optional[str]:
    """The Pulumi property name of an `@pulumi.getter` / `@pulumi.getter(name=...)` method."""
    for dec in fn.decorator_list:
        if _dotted(dec) == "pulumi.getter":
            return fn.name
        if isinstance(dec, ast.Call) and _dotted(dec.func) == "pulumi.getter":
            for kw in dec.keywords:
                if kw.arg == "name":
                    return kw.value.value
            return fn.name
    return None


def class_properties(cls: ast.ClassDef) -> dict[str, Prop]:
    props: dict[str, Prop] = {}
    for item in cls.body:
        if isinstance(item, ast.FunctionDef) and item.returns is not None:
            name = _getter_name(item)
            if name is None or any(_dotted(d).endswith(".setter") for d in item.decorator_list):
                continue
            t, optional = annotation_type(item.returns)
            props[name] = Prop(t, not optional)
    return props


def _deprecation(tree: ast.Module) -> Optional[str]:
    """The module-level `warnings.warn(\"\"\"... has been deprecated in favor of ...\"\"\")`."""
    for node in tree.body:
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and _dotted(node.value.func) == "warnings.warn"
            and isinstance(node.value.args[0], ast.Constant)
        ):
            return node.value.args[0].value
    return None


def _internal_init_facts(fn: ast.FunctionDef) -> tuple[set[str], set[str], dict[str, str]]:
    """(secret python input names, secret Pulumi output names, python input -> OS_* env var)."""
    secret_inputs: set[str] = set()
    secret_outputs: set[str] = set()
    env: dict[str, str] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and _dotted(node.func) == "pulumi.Output.secret":
            arg = node.args[0]
            if isinstance(arg, ast.Name):
                secret_inputs.add(arg.id)
            elif isinstance(arg, ast.Call):  # pulumi.Output.from_input(x).apply(...)
                for sub in ast.walk(arg):
                    if isinstance(sub, ast.Name) and sub.id not in ("pulumi", "json"):
                        secret_inputs.add(sub.id)
        if isinstance(node, ast.keyword) and node.arg == "additional_secret_outputs":
            secret_outputs.update(e.value for e in node.value.elts)
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and _dotted(node.value.func).startswith("_utilities.get_env")
            and isinstance(node.targets[0], ast.Name)
        ):
            env[node.targets[0].id] = node.value.args[0].value
    return secret_inputs, secret_outputs, env


def _py_to_pulumi(props: dict[str, Prop], args_cls: ast.ClassDef) -> dict[str, str]:
    """python property name -> Pulumi name, from the getters of an Args/State class."""
    out = {}
    for item in args_cls.body:
        if isinstance(item, ast.FunctionDef):
            name = _getter_name(item)
            if name is not None:
                out[item.name] = name
    return out


def _read(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    return {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}


def _resource_member(pkg: Path, rel: str, token: str, cls_name: str) -> Member:
    tree = _read(pkg / rel)
    classes = _classes(tree)
    cls = classes[cls_name]
    args = classes.get(cls_name + "Args")
    m = Member(token=token, module=rel, name=cls_name, deprecated=_deprecation(tree))
    m.outputs = class_properties(cls)
    if args is not None:
        m.inputs = class_properties(args)
        names = _py_to_pulumi(m.inputs, args)
    else:
        names = {}
    init = next(
        (f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "_internal_init"), None
    )
    if init is not None:
        secret_in, secret_out, env = _internal_init_facts(init)
        for py in secret_in:
            if py in names:
                m.inputs[names[py]].secret = True
        for name in secret_out:
            if name in m.outputs:
                m.outputs[name].secret = True
        m.env = {names[py]: var for py, var in env.items() if py in names}
    return m


def _function_members(pkg: Path) -> dict[str, Member]:
    found: dict[str, Member] = {}
    for path in sorted(pkg.rglob("*.py")):
        tree = _read(path)
        rel = str(path.relative_to(pkg))
        classes = _classes(tree)
        for fn in tree.body:
            if not isinstance(fn, ast.FunctionDef) or fn.name.endswith("_output"):
                continue
            token, result_cls, arg_names = None, None, {}
            for node in ast.walk(fn):
                if isinstance(node, ast.Call) and _dotted(node.func) == "pulumi.runtime.invoke":
                    token = node.args[0].value
                    for kw in node.keywords:
                        if kw.arg == "typ":
                            result_cls = _dotted(kw.value)
                if (
                    isinstance(node, ast.Assign)
                    and isinstance(node.targets[0], ast.Subscript)
                    and _dotted(node.targets[0].value) == "__args__"
                    and isinstance(node.value, ast.Name)
                ):
                    arg_names[node.value.id] = node.targets[0].slice.value
            if token is None:
                continue
            m = Member(token=token, module=rel, name=fn.name, deprecated=_deprecation(tree))
            annotations = {a.arg: a.annotation for a in fn.args.args + fn.args.kwonlyargs}
            # The plain function makes every argument Optional; its `_output` twin wraps the
            # optional ones in a second Optional, so that is where required arguments show.
            twin = next((f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == fn.name + "_output"), None)
            twin_annotations = {a.arg: a.annotation for a in twin.args.args + twin.args.kwonlyargs} if twin else {}
            for py, name in arg_names.items():
                t, optional = annotation_type(annotations[py])
                if py in twin_annotations:
                    optional = optional_depth(twin_annotations[py]) > 1
                m.inputs[name] = Prop(t, not optional)
            if result_cls in classes:
                m.outputs = class_properties(classes[result_cls])
            found[token] = m
    return found


def _type_module(pkg: Path, path: Path) -> str:
    """The schema module of the types in `path`: compute/outputs.py -> "compute", outputs.py -> "index"."""
    rel = path.parent.relative_to(pkg)
    return "index" if str(rel) == "." else str(rel)


def _nested_types(pkg: Path) -> tuple[dict[str, dict[str, Prop]], dict[str, dict[str, Prop]]]:
    """"module/TypeName" -> properties, for input (Args) and output types. Keyed by module because
    names repeat across modules (compute's InstanceNetwork is not database's)."""
    inputs: dict[str, dict[str, Prop]] = {}
    outputs: dict[str, dict[str, Prop]] = {}
    for path in sorted(pkg.rglob("_inputs.py")):
        for name, cls in _classes(_read(path)).items():
            if name.endswith("Args"):
                inputs[f"{_type_module(pkg, path)}/{normalise_type_name(name)}"] = class_properties(cls)
    for path in sorted(pkg.rglob("outputs.py")):
        for name, cls in _classes(_read(path)).items():
            outputs[f"{_type_module(pkg, path)}/{normalise_type_name(name)}"] = class_properties(cls)
    return inputs, outputs


def registered_resources(pkg: Path) -> dict[str, tuple[str, str]]:
    """token -> (python module file, class name), from `_utilities.register(resource_modules=...)`."""
    tree = _read(pkg / "__init__.py")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _dotted(node.func) == "_utilities.register":
            for kw in node.keywords:
                if kw.arg == "resource_modules":
                    modules = json.loads(kw.value.value)
    out = {}
    for mod in modules:
        fqn_dir = mod["fqn"].split(".")[1:]  # pulumi_openstack.compute -> ["compute"]
        for token, cls_name in mod["classes"].items():
            out[token] = ("/".join(fqn_dir), cls_name)
    return out


def _file_of_class(pkg: Path, directory: str, cls_name: str) -> str:
    """The file under `directory` that defines `cls_name` (module files are snake_case names)."""
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", cls_name).lower()
    base = pkg / directory if directory else pkg
    guess = base / f"{snake}.py"
    if guess.exists() and f"class {cls_name}(" in guess.read_text():
        return str(guess.relative_to(pkg))
    for path in sorted(base.glob("*.py")):
        if f"\nclass {cls_name}(pulumi.CustomResource)" in path.read_text():
            return str(path.relative_to(pkg))
    raise FileNotFoundError(f"no file defines {cls_name} under {base}")


def read_shape(pkg: Path) -> Shape:
    pkg = Path(pkg)
    resources = {}
    for token, (directory, cls_name) in registered_resources(pkg).items():
        resources[token] = _resource_member(pkg, _file_of_class(pkg, directory, cls_name), token, cls_name)
    provider = _resource_member(pkg, "provider.py", "pulumi:providers:openstack", "Provider")
    input_types, output_types = _nested_types(pkg)
    return Shape(resources, _function_members(pkg), provider, input_types, output_types)


def installed_package() -> Path:
    """The pulumi_openstack package directory of the interpreter running this (no import needed)."""
    import importlib.util

    spec = importlib.util.find_spec("pulumi_openstack")
    if spec is None or spec.origin is None:
        raise RuntimeError("pulumi_openstack is not installed in this Python")
    return Path(spec.origin).parent


def plugin_version(pkg: Path) -> str:
    return json.loads((Path(pkg) / "pulumi-plugin.json").read_text())["version"]
