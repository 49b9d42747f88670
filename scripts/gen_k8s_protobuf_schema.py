#!/usr/bin/env python3
"""Writes crates/sim/src/api/protobuf/schema.txt, the table the simulated API server's
protobuf codec reads: every Kubernetes protobuf message reachable from the API groups the
simulation serves, with each field's JSON name, field number and type.

Sources:
  * k8s-pb 0.9.0 (kube-rs's prost bindings of Kubernetes 1.34's generated.proto files, a
    crates.io package): messages, field numbers (`#[prost(<type>, <label>, tag = "N")]`),
    field types, and the API version of each package (its `impl crate::Resource` blocks).
  * k8s-openapi 0.29.0 (`v1_34`, a crates.io package): the JSON name of each field
    (`"hostIP" => Field::Key_host_ip`) and whether the OpenAPI schema requires it. prost
    renames fields to snake_case, which loses the JSON spelling (`hostIP` becomes `host_ip`).
    Both crates are fetched with cargo into ~/.cargo/registry when they are not there yet.
  * a kubectl binary (a Go program built from the same types): the Go struct fields behind
    each message, read from the binary's runtime type information (`go_types`): the JSON
    names from their tags, which fields are pointers and which omit zero values. Go's
    protobuf encoder writes every non-pointer field, zero or not, and Go's JSON encoder omits
    zero `omitempty` fields; the .proto files say neither, the Go types say both.

Per field, `!` marks a scalar whose zero value stays when decoding (a Go pointer, where a
written zero is an explicit zero, or a field without `omitempty`); `?` marks a singular field
Go writes only when set (a pointer). Other singular fields are written by Go even when zero,
and the encoder does the same. For fields the kubectl binary does not know (newer than it),
the documentation decides `!` (it says unset and zero differ) and the field counts as `?`.

Regenerate (from the repository root; KUBECTL is the newest kubectl binary at hand, not a
wrapper script, by default /usr/lib/google-cloud-sdk/bin/kubectl.1.33):
    python3 scripts/gen_k8s_protobuf_schema.py [KUBECTL] > crates/sim/src/api/protobuf/schema.txt
"""

import glob
import os
import re
import struct
import sys

REGISTRY = os.path.expanduser("~/.cargo/registry/src")
PB_VERSION = "k8s-pb-0.9.0"
OPENAPI_VERSION = "k8s-openapi-0.29.0"
OPENAPI_K8S = "v1_34"

# Modules (paths under k8s-pb's src/) whose messages are included with everything they
# reference. The groups the simulated API server serves, the subresource and review types it
# answers, and meta/v1 (Status, DeleteOptions, WatchEvent, lists' metadata, discovery).
MODULES = [
    "api/core/v1",
    "api/apps/v1",
    "api/batch/v1",
    "api/policy/v1",
    "api/coordination/v1",
    "api/events/v1",
    "api/networking/v1",
    "api/rbac/v1",
    "api/authorization/v1",
    "api/autoscaling/v1",
    "metrics/pkg/apis/metrics/v1beta1",
    "apimachinery/pkg/apis/meta/v1",
]

# API versions of modules without a Resource impl to read it from.
EXTRA_API_VERSIONS = {
    "apimachinery/pkg/apis/meta/v1": "meta.k8s.io/v1",
    "metrics/pkg/apis/metrics/v1beta1": "metrics.k8s.io/v1beta1",
}

SHORT_PREFIXES = [
    "apimachinery/pkg/apis/",
    "apimachinery/pkg/util/",
    "apimachinery/pkg/api/",
    "apimachinery/pkg/",
    "metrics/pkg/apis/",
    "api/",
]

SCALARS = {"string", "bytes", "int32", "int64", "bool", "double", "float", "uint32", "uint64"}


def short(module):
    for p in SHORT_PREFIXES:
        if module.startswith(p):
            return module[len(p):].replace("/", ".")
    return module.replace("/", ".")


def crate_dir(name):
    """The unpacked source of a crates.io package (`<name>-<version>`), fetched by cargo
    through a scratch crate that depends on it when it is not in the registry cache yet."""
    found = glob.glob(os.path.join(REGISTRY, "*", name))
    if not found:
        import subprocess
        import tempfile

        crate, version = name.rsplit("-", 1)
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "Cargo.toml"), "w") as f:
                f.write(f'[package]\nname = "scratch"\nversion = "0.0.0"\n'
                        f'[dependencies]\n{crate} = "={version}"\n')
            os.makedirs(os.path.join(tmp, "src"))
            open(os.path.join(tmp, "src", "lib.rs"), "w").close()
            subprocess.run(["cargo", "fetch", "--manifest-path",
                            os.path.join(tmp, "Cargo.toml")], check=True)
        found = glob.glob(os.path.join(REGISTRY, "*", name))
    if not found:
        sys.exit(f"{name} is not in {REGISTRY} and cargo could not fetch it")
    return found[0]


def resolve(module, path):
    """The (module, name) a Rust type path names, seen from `module`."""
    parts = path.split("::")
    mod = module.split("/")
    while parts and parts[0] == "super":
        mod.pop()
        parts.pop(0)
    if parts and parts[0] == "crate":
        mod = []
        parts.pop(0)
    return "/".join(mod + parts[:-1]), parts[-1]


def inner_type(ty):
    """The element type of an Option/Vec/Box wrapped prost field type."""
    ty = re.sub(r"\s+", "", ty).replace(",>", ">")
    for wrapper in ("::core::option::Option<", "::prost::alloc::vec::Vec<",
                    "::prost::alloc::boxed::Box<"):
        if ty.startswith(wrapper):
            return inner_type(ty[len(wrapper):-1])
    return ty


def parse_pb(root):
    """{module: {message: [field]}} and {module: api_version} from k8s-pb's sources."""
    messages, versions = {}, {}
    for path in sorted(glob.glob(os.path.join(root, "src", "**", "mod.rs"), recursive=True)):
        module = os.path.relpath(os.path.dirname(path), os.path.join(root, "src"))
        lines = open(path, encoding="utf-8").read().split("\n")
        i, current, doc, attr = 0, None, [], None
        while i < len(lines):
            line = lines[i].strip()
            m = re.match(r"pub struct (\w+) \{$", line)
            if m:
                current = messages.setdefault(module, {}).setdefault(m.group(1), [])
                doc, attr = [], None
            elif current is not None and line == "}":
                current = None
            elif current is not None and line.startswith("///"):
                doc.append(line[3:].strip())
            elif current is not None and line.startswith("#[prost("):
                attr = line
            elif current is not None and attr and line.startswith("pub "):
                decl = line
                while not decl.endswith(",") or decl.count("<") != decl.count(">"):
                    i += 1
                    decl += lines[i].strip()
                ident, ty = decl[4:-1].split(":", 1)
                current.append(field(module, ident.strip(), ty.strip(), attr, " ".join(doc)))
                doc, attr = [], None
            m = re.match(r'const API_VERSION: &\'static str = "([^"]+)";', line)
            if m:
                versions.setdefault(module, m.group(1))
            i += 1
    return messages, versions


def field(module, ident, ty, attr, doc):
    tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
    spec = attr[len("#[prost("):-2]
    f = {"ident": ident.removeprefix("r#"), "tag": tag, "doc": doc, "label": "single"}
    m = re.match(r'btree_map = "(\w+), (\w+)"', spec)
    if m:
        f["label"] = "map"
        if m.group(1) != "string":
            sys.exit(f"{module}: map key {m.group(1)} is not supported")
        value = m.group(2)
        if value == "message":
            inner = re.sub(r"\s+", "", ty)
            value_path = inner[inner.index(",") + 1:-1].rstrip(",")
            f["type"] = resolve(module, value_path)
        else:
            f["type"] = value
        return f
    kind = spec.split(",")[0].split(" ")[0]
    if "repeated" in spec:
        f["label"] = "repeated"
    if kind == "message":
        f["type"] = resolve(module, inner_type(ty))
    elif kind in SCALARS:
        f["type"] = kind
    else:
        sys.exit(f"{module}.{ident}: unknown prost type {kind}")
    return f


def parse_openapi(root):
    """{(module, lowercase type): {normalized ident: (json name, required)}} from k8s-openapi.
    The type name is compared in lowercase: prost renames `HTTPGetAction` to `HttpGetAction`."""
    base = os.path.join(root, "src", OPENAPI_K8S)
    out = {}
    for path in glob.glob(os.path.join(base, "**", "*.rs"), recursive=True):
        module = os.path.relpath(os.path.dirname(path), base)
        text = open(path, encoding="utf-8").read()
        for m in re.finditer(r"pub struct (\w+) \{(.*?)\n\}", text, re.S):
            name, body = m.group(1), m.group(2)
            required = {}
            for fm in re.finditer(r"pub (\w+): ([^\n]+),", body):
                required[fm.group(1).removeprefix("r#")] = not fm.group(2).startswith("Option<")
            keys = {}
            for km in re.finditer(r'"([^"]+)" => Field::Key_(\w+),', text):
                ident = km.group(2)
                if ident in required:
                    keys[norm(ident)] = (km.group(1), required[ident])
            if keys:
                out[(module, name.lower())] = keys
    return out


def norm(s):
    return re.sub(r"[_\-$]", "", s).lower()


def camel(ident):
    head, *rest = ident.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


# Documentation saying that unset and zero differ.
ZERO_DIFFERS = re.compile(
    r"pointer|\bnil\b|not specified|unspecified|\bunset\b|not set|if specified|"
    r"defaults? (?:to|is) (?!0\b|false\b|zero\b)\S",
    re.I,
)
# Documentation saying the default is the zero value: dropping an explicit zero loses nothing.
ZERO_DEFAULT = re.compile(r"defaults? (?:to|is) (?:0|false|zero)\b", re.I)


def keeps_zero(ty, required, doc):
    """Whether a decoded zero value of a singular scalar field stays in the JSON."""
    if required:
        return True
    if ty in ("string", "bytes"):
        # An empty string is Go's "unset" for every string field the server serves.
        return False
    return bool(ZERO_DIFFERS.search(doc)) and not ZERO_DEFAULT.search(doc)


def find_inlines(wanted, messages, json_names):
    """The message fields that are Go structs embedded with `json:",inline"`: the JSON of the
    parent has no key for the field but has every field of the embedded message. An embedded
    message that k8s-openapi has no type for takes its JSON names from the parent."""
    inline = set()
    changed = True
    while changed:
        changed = False
        for module, name in wanted:
            keys = json_names.get((module, name.lower()))
            if not keys:
                continue
            for f in messages[module][name]:
                ty = f["type"]
                if norm(f["ident"]) in keys or not isinstance(ty, tuple):
                    continue
                idents = [norm(g["ident"]) for g in messages[ty[0]][ty[1]]]
                if (module, name, f["ident"]) in inline or not all(i in keys for i in idents):
                    continue
                inline.add((module, name, f["ident"]))
                json_names.setdefault((ty[0], ty[1].lower()), {i: keys[i] for i in idents})
                changed = True
    return inline


def go_types(path):
    """{(module, lowercase struct name): {field number: (json name, pointer, omitempty)}} for
    the Kubernetes API structs compiled into a Go binary (amd64, Go 1.21 or later).

    Walks the runtime type descriptors (internal/abi.Type and friends) from the `.typelink`
    section, which lists the binary's composite types, through pointer, slice, array, map and
    struct types; reads each struct field's name, tag and type kind."""
    data = open(path, "rb").read()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    secs = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names_off = secs[shstrndx][4]
    sections = {}
    for name, typ, _flags, addr, off, size in secs:
        end = data.index(b"\0", names_off + name)
        sections[data[names_off + name:end].decode()] = (typ, addr, off, size)
    loaded = [v for v in sections.values() if v[1] and v[0] != 8]  # 8: SHT_NOBITS

    def at(va):
        for _typ, addr, off, size in loaded:
            if addr <= va < addr + size:
                return off + va - addr
        raise KeyError(hex(va))

    def u8(va):
        return data[at(va)]

    def u64(va):
        return struct.unpack_from("<Q", data, at(va))[0]

    def i32(va):
        return struct.unpack_from("<i", data, at(va))[0]

    def varint(va):
        value, shift = 0, 0
        while True:
            b = u8(va)
            va += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return value, va

    def name(va):
        flags = u8(va)
        n, p = varint(va + 1)
        text = data[at(p):at(p) + n].decode("utf-8", "replace")
        tag = ""
        if flags & 2:
            tn, p2 = varint(p + n)
            tag = data[at(p2):at(p2) + tn].decode("utf-8", "replace")
        return text, tag

    types = sections[".rodata"][1]  # runtime.types: the start of the type data
    kind = lambda t: u8(t + 23) & 0x1F  # noqa: E731
    PTR, SLICE, ARRAY, CHAN, MAP, STRUCT = 22, 23, 17, 18, 21, 25

    def type_name(t):
        text = name(types + i32(t + 40))[0]
        return text[1:] if u8(t + 20) & 2 else text  # TFlagExtraStar

    def pkg_path(t):
        if u64(t + 48):
            return name(u64(t + 48))[0]
        if u8(t + 20) & 1:  # TFlagUncommon: the uncommon type follows the struct type
            return name(types + i32(t + 80))[0]
        return ""

    _, _, off, size = sections[".typelink"]
    stack = [types + o for o in struct.unpack_from(f"<{size // 4}i", data, off)]
    seen, out = set(), {}
    while stack:
        t = stack.pop()
        if not t or t in seen:
            continue
        seen.add(t)
        k = kind(t)
        if k in (PTR, SLICE, ARRAY, CHAN):
            stack.append(u64(t + 48))
        elif k == MAP:
            stack += [u64(t + 48), u64(t + 56)]
        elif k == STRUCT:
            pkg = pkg_path(t)
            fields = {}
            for i in range(u64(t + 64)):
                f = u64(t + 56) + 24 * i
                _fname, tag = name(u64(f))
                ftype = u64(f + 8)
                stack.append(ftype)
                pb = re.search(r'protobuf:"\w+,(\d+),', tag)
                js = re.search(r'json:"([^"]*)"', tag)
                if pb and js:
                    parts = js.group(1).split(",")
                    fields[int(pb.group(1))] = (parts[0], kind(ftype) == PTR, "omitempty" in parts)
            if pkg.startswith("k8s.io/") and fields:
                module = pkg[len("k8s.io/"):]
                out[(module, type_name(t).rsplit(".", 1)[-1].lower())] = fields
    return out


def main():
    kubectl = sys.argv[1] if len(sys.argv) > 1 else "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"
    go = go_types(kubectl)
    pb_root, oa_root = crate_dir(PB_VERSION), crate_dir(OPENAPI_VERSION)
    messages, versions = parse_pb(pb_root)
    versions.update(EXTRA_API_VERSIONS)
    json_names = parse_openapi(oa_root)

    wanted, queue = set(), [(m, n) for m in MODULES for n in messages.get(m, {})]
    while queue:
        key = queue.pop()
        if key in wanted:
            continue
        if key[1] not in messages.get(key[0], {}):
            sys.exit(f"message {key} is referenced but not defined")
        wanted.add(key)
        for f in messages[key[0]][key[1]]:
            if isinstance(f["type"], tuple):
                queue.append(f["type"])

    inline = find_inlines(wanted, messages, json_names)
    unmatched, missing_go = [], []
    out = [
        "# Kubernetes 1.34 protobuf messages, as the simulated API server's codec reads them.",
        "# Generated by scripts/gen_k8s_protobuf_schema.py from the k8s-pb 0.9.0 and",
        "# k8s-openapi 0.29.0 crates and the Go types of " + os.path.basename(kubectl) + "; do not edit.",
        "# To regenerate, from the repository root:",
        "#   python3 scripts/gen_k8s_protobuf_schema.py [KUBECTL] > crates/sim/src/api/protobuf/schema.txt",
        "#",
        "# `@ <apiVersion> <package>`: the package whose messages are the kinds of an apiVersion.",
        "# `<package>.<Message> <field>...`, a field being `<json>=<number>:<type>` where the type",
        "# is a scalar or a message, `[]T` repeated, `map[T]` a map with string keys, and a",
        "# trailing `!` marks a scalar whose zero value is kept when decoding, a trailing `?` a",
        "# singular field Go writes only when set (a pointer); Go writes the others even when zero.",
        "# A field named `~` is a Go struct embedded inline: its fields are the parent's in JSON.",
    ]
    for module in MODULES:
        if module not in versions:
            sys.exit(f"no API version known for {module}")
        out.append(f"@ {versions[module]} {short(module)}")
    for module, name in sorted(wanted, key=lambda k: (short(k[0]), k[1])):
        keys = json_names.get((module, name.lower()), {})
        tokens = [f"{short(module)}.{name}"]
        for f in sorted(messages[module][name], key=lambda f: f["tag"]):
            found = keys.get(norm(f["ident"]))
            if found is None and (module, name, f["ident"]) in inline:
                found = ("~", False)
            if found is None:
                json_name, required = camel(f["ident"]), False
                if keys:
                    unmatched.append(f"{short(module)}.{name}.{f['ident']}")
            else:
                json_name, required = found
            gofield = go.get((module, name.lower()), {}).get(f["tag"])
            if gofield and gofield[0] and json_name != "~":
                json_name = gofield[0]
            ty = f["type"]
            ty = f"{short(ty[0])}.{ty[1]}" if isinstance(ty, tuple) else ty
            if f["label"] == "repeated":
                ty = "[]" + ty
            elif f["label"] == "map":
                ty = f"map[{ty}]"
            elif gofield:
                _, pointer, omitempty = gofield
                if ty in SCALARS and (pointer or not omitempty):
                    ty += "!"
                if pointer:
                    ty += "?"
            else:
                missing_go.append(f"{short(module)}.{name}.{f['ident']}")
                if ty in SCALARS and keeps_zero(ty, required, f["doc"]):
                    ty += "!"
                ty += "?"
            tokens.append(f"{json_name}={f['tag']}:{ty}")
        out.append(" ".join(tokens))
    for u in missing_go:
        print(f"note: {kubectl} has no Go field for {u}", file=sys.stderr)
    for u in unmatched:
        print(f"warning: no JSON name in k8s-openapi for {u}; using its camelCase", file=sys.stderr)
    print("\n".join(out))


if __name__ == "__main__":
    main()
