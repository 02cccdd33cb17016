#!/usr/bin/env python3
"""tests/k8s/check.py MANIFESTS SECRET: what the Kubernetes schemas cannot check in deploy/k8s/riskpipe.yaml.
Prints PASS/FAIL lines (tests/k8s/run.sh counts them)."""
import re
import sys

import yaml

ROLES = {"state": "StatefulSet", "reducer": "StatefulSet", "mapper": "Deployment"}
PUBLIC = {"state.cert", "reducer.cert", "mapper.cert", "riskctl.cert"}


def report(ok, name, why=""):
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + why))


def flags(args):
    return dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)


def port_of(endpoint):
    m = re.search(r":(\d+)$", endpoint)
    return int(m.group(1)) if m else None


def main():
    docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
    secret = yaml.safe_load(open(sys.argv[2]))
    keys = set(secret["data"])
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    shards = 1
    for role, kind in ROLES.items():
        w = by.get((kind, role))
        report(w is not None, f"{role} is a {kind}", "missing")
        if w is None:
            continue
        spec = w["spec"]
        pod = spec["template"]["spec"]
        c = pod["containers"][0]
        if kind == "StatefulSet" and role == "state":
            # K shards: one pod per shard, each one LMDB writer with a claim of its own, told its
            # shard by its pod-index label
            k = int(flags(c["args"]).get("shards", "1"))
            env = {e["name"]: e for e in c.get("env", [])}
            ref = env.get("RISKPIPE_STATE_SHARD", {}).get("valueFrom", {}).get("fieldRef", {})
            report(spec["replicas"] == k and spec.get("volumeClaimTemplates"),
                   f"state: one replica per shard (--shards {k}), each with a volume claim",
                   f"replicas {spec['replicas']}, claims {spec.get('volumeClaimTemplates')}")
            report(ref.get("fieldPath") == "metadata.labels['apps.kubernetes.io/pod-index']",
                   "state: each pod's shard is its pod index", str(ref))
            shards = k
        elif kind == "StatefulSet":
            report(spec["replicas"] == 1 and spec.get("volumeClaimTemplates"),
                   f"{role}: one replica (one LMDB writer) with a volume claim for its data",
                   f"replicas {spec['replicas']}, claims {spec.get('volumeClaimTemplates')}")
        if kind == "StatefulSet":
            data = flags(c["args"]).get("data")
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            report(mounts.get(data) == "data", f"{role}: --data {data} is the claimed volume",
                   f"mounts {mounts}")
            report(spec["serviceName"] in services, f"{role}: its headless Service exists",
                   spec["serviceName"])
        items = [i for v in pod["volumes"] if "secret" in v for i in v["secret"]["items"]]
        unknown = [i["key"] for i in items if i["key"] not in keys]
        report(not unknown, f"{role}: every Secret item is a key of the Secret", f"unknown {unknown}")
        paths = {i["path"] for i in items}
        pairs = {p for p in paths if p.endswith(".cert_secret")}
        want = {f"{role}.cert_secret"} | ({"riskctl.cert_secret"} if role != "mapper" else set())
        report(pairs == want, f"{role}: its own key pair{' and riskctl' if role != 'mapper' else ''}'s, "
               "no other role's", f"key pairs mounted: {sorted(pairs)}")
        report(PUBLIC <= paths and "http.token" in paths, f"{role}: every public key and the HTTP token",
               f"paths {sorted(paths)}")
        if role == "state":
            report({"producers/riskctl.cert", "producers/host.cert"} <= paths,
                   "state: the producers' public keys under producers/", f"paths {sorted(paths)}")
        report(pod["securityContext"].get("runAsUser") == 10001 and pod["securityContext"].get("runAsNonRoot"),
               f"{role}: runs as the image's riskpipe user (10001), not root", str(pod["securityContext"]))
        f = flags(c["args"])
        report(f.get("keys") == "/keys" and any(m["mountPath"] == "/keys" for m in c["volumeMounts"]),
               f"{role}: --keys is the mounted Secret", str(f.get("keys")))
        bound = {port_of(v) for k, v in f.items() if v.startswith("tcp://*:") or k == "http"}
        exposed = {p["containerPort"] for p in c.get("ports", [])}
        report(bound == exposed, f"{role}: the ports it binds are the container's ports",
               f"binds {sorted(bound)}, exposes {sorted(exposed)}")
        if role in services:
            sp = {p["port"] for p in services[role]["spec"]["ports"]}
            report(sp == bound and services[role]["spec"].get("clusterIP") == "None",
                   f"{role}: its headless Service carries every port it binds", f"service {sorted(sp)}")
        for k, v in f.items():  # every endpoint it connects to names a Service and one of its ports
            eps = v.split(",")
            for ep in eps:
                # a Service, or a StatefulSet pod under its headless Service: state-0.state
                m = re.match(r"tcp://(?:([a-z0-9-]+)-(\d+)\.)?([a-z0-9-]+):(\d+)$", ep)
                if not m:
                    continue
                svc = services.get(m.group(3))
                ok = svc is not None and int(m.group(4)) in {p["port"] for p in svc["spec"]["ports"]}
                if m.group(1):  # the pod exists: its StatefulSet has that many replicas
                    sts = by.get(("StatefulSet", m.group(1)))
                    ok = ok and sts is not None and int(m.group(2)) < sts["spec"]["replicas"]
                report(ok, f"{role}: --{k} {ep} reaches a Service port", "no such Service port or pod")
            if any(e.startswith("tcp://state-") for e in eps):
                report(len(eps) == shards and all(f"state-{i}." in e for i, e in enumerate(eps)),
                       f"{role}: --{k} names every shard, in shard order", v)


if __name__ == "__main__":
    main()
