#!/usr/bin/env python3
"""Offline checks of the rendered manifests, the config and the dashboard.

Used by scripts/validate_deploy.sh; each subcommand exits non-zero with a list
of problems. Needs PyYAML (and sendgate itself for `config`).

  split RENDERED OUT_CORE           write the built-in kinds to OUT_CORE (for
                                    kubernetes-validate), check the CRDs it
                                    cannot know (PodMonitor, PrometheusRule)
  sidecar RENDERED TOML             the sendgate sidecar as deploy/README.md
                                    describes it (probes, ports, security, ...)
  config TOML                       the TOML loads with sendgate's own loader
  dashboard JSON OUT_RULES          the dashboard's structure; every PromQL
                                    expression into a rule file for
                                    `promtool check rules`
"""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

CRD_GROUPS = ("monitoring.coreos.com/",)
SECRET_ENV = (
    "SENDGATE_REDIS_URL",
    "SENDGATE_AUTH__SENDGATE_TOKEN",
    "SENDGATE_AUTH__ADMIN_TOKEN",
    "SENDGATE_BAN_EVASION__HMAC_KEY",
)


class Problems(list[str]):
    def need(self, ok: object, message: str) -> None:
        if not ok:
            self.append(message)

    def finish(self, what: str) -> int:
        for p in self:
            print(f"  {what}: {p}", file=sys.stderr)
        if self:
            return 1
        print(f"{what}: ok")
        return 0


def load_docs(path: str) -> list[dict[str, Any]]:
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def _name(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


# --- CRDs ----------------------------------------------------------------------------


def check_podmonitor(doc: dict[str, Any], p: Problems) -> None:
    n = _name(doc)
    spec = doc.get("spec") or {}
    sel = spec.get("selector") or {}
    p.need(sel.get("matchLabels") or sel.get("matchExpressions"), f"{n}: spec.selector is empty")
    eps = spec.get("podMetricsEndpoints")
    p.need(isinstance(eps, list) and eps, f"{n}: spec.podMetricsEndpoints missing")
    known = {
        "port", "portNumber", "targetPort", "path", "scheme", "interval", "scrapeTimeout",
        "relabelings", "metricRelabelings", "honorLabels", "honorTimestamps", "params",
        "tlsConfig", "basicAuth", "bearerTokenSecret", "authorization", "oauth2",
        "followRedirects", "enableHttp2", "filterRunning", "proxyUrl", "trackTimestampsStaleness",
    }  # fmt: skip
    for i, ep in enumerate(eps or []):
        p.need(isinstance(ep, dict), f"{n}: podMetricsEndpoints[{i}] is not a mapping")
        if not isinstance(ep, dict):
            continue
        p.need(ep.get("port") == "metrics", f"{n}: podMetricsEndpoints[{i}].port must be metrics")
        p.need(ep.get("path") == "/metrics", f"{n}: podMetricsEndpoints[{i}].path must be /metrics")
        unknown = set(ep) - known
        p.need(not unknown, f"{n}: podMetricsEndpoints[{i}] unknown fields {sorted(unknown)}")
        for j, r in enumerate(ep.get("relabelings") or []):
            p.need(
                isinstance(r, dict)
                and (r.get("targetLabel") or r.get("action") in ("keep", "drop")),
                f"{n}: relabelings[{j}] needs targetLabel",
            )


def check_rule_groups(groups: Any, where: str, p: Problems) -> None:
    p.need(isinstance(groups, list) and groups, f"{where}: groups missing")
    names = set()
    for g in groups or []:
        gname = g.get("name")
        p.need(gname and gname not in names, f"{where}: group name missing or repeated: {gname}")
        names.add(gname)
        p.need(isinstance(g.get("rules"), list) and g["rules"], f"{where}: {gname} has no rules")
        for r in g.get("rules") or []:
            what = r.get("alert") or r.get("record")
            p.need(
                bool(r.get("alert")) != bool(r.get("record")), f"{where}: {what}: alert XOR record"
            )
            p.need(
                isinstance(r.get("expr"), str) and r["expr"].strip(), f"{where}: {what}: no expr"
            )
            if r.get("alert"):
                labels = r.get("labels") or {}
                ann = r.get("annotations") or {}
                p.need(
                    labels.get("severity") in ("critical", "warning", "info"),
                    f"{where}: {what}: labels.severity must be critical, warning or info",
                )
                for key in ("summary", "description"):
                    p.need(ann.get(key), f"{where}: {what}: annotations.{key} missing")


def check_prometheusrule(doc: dict[str, Any], p: Problems) -> None:
    check_rule_groups((doc.get("spec") or {}).get("groups"), _name(doc), p)


def cmd_split(rendered: str, out_core: str) -> int:
    p = Problems()
    docs = load_docs(rendered)
    core: list[dict[str, Any]] = []
    crds: list[dict[str, Any]] = []
    for d in docs:
        p.need(d.get("apiVersion") and d.get("kind"), f"document without apiVersion/kind: {d}")
        p.need(d.get("metadata", {}).get("name"), f"{d.get('kind')} without metadata.name")
        (crds if str(d.get("apiVersion", "")).startswith(CRD_GROUPS) else core).append(d)
    for d in crds:
        check = {"PodMonitor": check_podmonitor, "PrometheusRule": check_prometheusrule}.get(
            d["kind"]
        )
        p.need(check is not None, f"no structure check for {_name(d)}")
        if check is not None:
            check(d, p)
    with open(out_core, "w") as f:
        yaml.safe_dump_all(core, f, sort_keys=False)
    print(
        f"{Path(rendered).name}: {len(core)} built-in objects, {len(crds)} custom "
        f"({', '.join(_name(d) for d in crds) or 'none'})"
    )
    return p.finish(f"crd structure ({Path(rendered).name})")


# --- the sidecar ----------------------------------------------------------------------


def _probe(c: dict[str, Any], kind: str, service: str, p: Problems) -> None:
    probe = c.get(kind) or {}
    grpc = probe.get("grpc") or {}
    p.need(grpc.get("port") == 50051, f"sendgate {kind}: grpc.port must be the number 50051")
    p.need(grpc.get("service") == service, f"sendgate {kind}: grpc.service must be {service!r}")


def cmd_sidecar(rendered: str, toml_path: str) -> int:
    p = Problems()
    docs = load_docs(rendered)
    deps = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "chat-server"]
    if len(deps) != 1:
        p.append("exactly one Deployment chat-server expected")
        return p.finish("sidecar")
    pod = deps[0]["spec"]["template"]["spec"]
    inits = [c for c in pod.get("initContainers") or [] if c["name"] == "sendgate"]
    p.need(inits, "sendgate must be an initContainers entry (native sidecar)")
    p.need(
        not any(c["name"] == "sendgate" for c in pod.get("containers") or []),
        "sendgate must not be a regular container",
    )
    if not inits:
        return p.finish("sidecar")
    c = inits[0]
    p.need(c.get("restartPolicy") == "Always", "sendgate: restartPolicy must be Always")
    # Not "": with Redis down at pod start the sidecar serves degraded decisions, and a
    # startup probe on "" would restart it in a loop and keep the chat server from starting.
    _probe(c, "startupProbe", "sendgate.liveness", p)
    _probe(c, "readinessProbe", "sendgate.liveness", p)
    _probe(c, "livenessProbe", "sendgate.liveness", p)

    args = c.get("args") or []
    p.need(args[:1] == ["serve"], "sendgate args must start with serve")

    def flag(name: str) -> str | None:
        return args[args.index(name) + 1] if name in args[:-1] else None

    grpc_addr = flag("--grpc-address") or ""
    p.need(grpc_addr.endswith(":50051"), "sendgate: --grpc-address must use port 50051")
    p.need(
        not grpc_addr.startswith("127.") or "exec" in str(c.get("readinessProbe")),
        "sendgate: a loopback --grpc-address cannot be reached by kubelet gRPC probes",
    )
    p.need(flag("--metrics-address") == "0.0.0.0:9464", "sendgate: --metrics-address 0.0.0.0:9464")

    ports = {x.get("name"): x.get("containerPort") for x in c.get("ports") or []}
    p.need(ports == {"grpc": 50051, "metrics": 9464}, f"sendgate ports: {ports}")

    res = c.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    p.need("cpu" in req and "memory" in req, "sendgate: requests need cpu and memory")
    p.need("memory" in lim, "sendgate: a memory limit is required")
    p.need("cpu" not in lim, "sendgate: no cpu limit (throttling breaks the latency SLO)")

    sc = c.get("securityContext") or {}
    p.need(sc.get("runAsNonRoot") is True, "sendgate: runAsNonRoot")
    p.need(sc.get("runAsUser") == 10001, "sendgate: runAsUser 10001")
    p.need(sc.get("readOnlyRootFilesystem") is True, "sendgate: readOnlyRootFilesystem")
    p.need(sc.get("allowPrivilegeEscalation") is False, "sendgate: allowPrivilegeEscalation false")
    p.need((sc.get("capabilities") or {}).get("drop") == ["ALL"], "sendgate: drop ALL")
    p.need(
        (sc.get("seccompProfile") or {}).get("type") == "RuntimeDefault",
        "sendgate: seccompProfile RuntimeDefault",
    )

    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts") or []}
    tmp = mounts.get("/tmp")
    p.need(tmp and "emptyDir" in volumes.get(tmp["name"], {}), "sendgate: emptyDir at /tmp")

    env = {e["name"]: e for e in c.get("env") or []}
    cfg_path = (env.get("SENDGATE_CONFIG") or {}).get("value", "")
    cfg_dir = os.path.dirname(cfg_path)
    cfg_mount = mounts.get(cfg_dir)
    p.need(cfg_mount and cfg_mount.get("readOnly") is True, f"config mount {cfg_dir} read-only")
    if cfg_mount:
        cm = volumes.get(cfg_mount["name"], {}).get("configMap")
        p.need(cm, "the config volume must be a ConfigMap")
        if cm:
            maps = [
                d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == cm["name"]
            ]
            p.need(maps, f"ConfigMap {cm['name']} is not in the rendered output")
            key = os.path.basename(cfg_path)
            if maps:
                data = maps[0].get("data") or {}
                p.need(
                    data.get(key) == Path(toml_path).read_text(),
                    f"ConfigMap key {key} differs from {toml_path}",
                )
    for name in SECRET_ENV:
        ref = ((env.get(name) or {}).get("valueFrom") or {}).get("secretKeyRef")
        p.need(ref and ref.get("name") and ref.get("key"), f"sendgate: {name} from a Secret")

    grace = pod.get("terminationGracePeriodSeconds", 30)
    with open(toml_path, "rb") as f:
        shutdown = float(tomllib.load(f).get("shutdown_grace_seconds", 5))
    p.need(grace >= shutdown + 5, f"terminationGracePeriodSeconds {grace} < grace {shutdown} + 5")
    return p.finish("sidecar")


# --- the TOML -------------------------------------------------------------------------


def cmd_config(toml_path: str) -> int:
    for key in [k for k in os.environ if k.startswith("SENDGATE_")]:
        del os.environ[key]
    os.environ["SENDGATE_CONFIG"] = toml_path
    for key in SECRET_ENV:  # placeholders, as the Secret provides them in the pod
        os.environ[key] = "redis://placeholder:6379/0" if key == "SENDGATE_REDIS_URL" else "x"
    from sendgate.config import load_settings  # noqa: PLC0415 (needs the env set first)

    s = load_settings()
    p = Problems()
    p.need(s.auth.sendgate_token.get_secret_value() == "x", "SENDGATE_AUTH__SENDGATE_TOKEN ignored")
    p.need(
        s.ban_evasion.hmac_key.get_secret_value() == "x", "SENDGATE_BAN_EVASION__HMAC_KEY ignored"
    )
    p.need(not s.allow_evicting_redis, "allow_evicting_redis must stay false")
    return p.finish(f"config ({toml_path})")


# --- the dashboard --------------------------------------------------------------------

GRAFANA_VARS = {
    "$__rate_interval": "5m",
    "${__rate_interval}": "5m",
    "$__interval": "1m",
    "${__interval}": "1m",
    "$__range": "1h",
    "${__range}": "1h",
}


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for panel in panels:
        out.append(panel)
        out.extend(_panels(panel.get("panels") or []))
    return out


def cmd_dashboard(path: str, out_rules: str) -> int:
    p = Problems()
    dash = json.loads(Path(path).read_text())
    tmpl = (dash.get("templating") or {}).get("list") or []
    ds_vars = [t["name"] for t in tmpl if t.get("type") == "datasource"]
    p.need(ds_vars, "no datasource variable")
    variables = [t["name"] for t in tmpl]
    panels = _panels(dash.get("panels") or [])
    ids = [x.get("id") for x in panels]
    p.need(len(ids) == len(set(ids)), "panel ids are not unique")
    rules = []
    for panel in panels:
        if panel.get("type") == "row":
            continue
        title = panel.get("title", "?")
        p.need(panel.get("gridPos"), f"panel {title}: no gridPos")
        uid = (panel.get("datasource") or {}).get("uid", "")
        p.need(uid in {f"${{{v}}}" for v in ds_vars}, f"panel {title}: datasource not a variable")
        p.need(panel.get("targets"), f"panel {title}: no queries")
        for t in panel.get("targets") or []:
            t_uid = (t.get("datasource") or {}).get("uid", uid)
            p.need(t_uid == uid, f"panel {title}: target datasource differs")
            expr = t.get("expr", "")
            for var, value in GRAFANA_VARS.items():
                expr = expr.replace(var, value)
            for v in variables:
                expr = re.sub(rf"\$\{{{v}(:[a-z]+)?\}}|\${v}\b", ".*", expr)
            p.need("$" not in expr, f"panel {title}: unknown variable in {expr}")
            rules.append({"record": f"dashboard:panel_{panel['id']}_{t['refId']}", "expr": expr})
    for t in tmpl:
        q = t.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"label_values\((.*),\s*\w+\)", q or "")
        if t.get("type") == "query" and m:
            rules.append({"record": f"dashboard:variable_{t['name']}", "expr": m.group(1)})
    with open(out_rules, "w") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f, sort_keys=False)
    print(f"dashboard: {len(panels)} panels, {len(rules)} PromQL expressions")
    return p.finish("dashboard structure")


def main(argv: list[str]) -> int:
    commands: dict[str, Callable[..., int]] = {
        "split": cmd_split,
        "sidecar": cmd_sidecar,
        "config": cmd_config,
        "dashboard": cmd_dashboard,
    }
    if not argv or argv[0] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    return commands[argv[0]](*argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
