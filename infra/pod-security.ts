/**
 * The Kubernetes Pod Security Standards, "baseline" and "restricted"
 * (https://kubernetes.io/docs/concepts/security/pod-security-standards/),
 * control by control over a pod template, with the fields that decide each.
 * "restricted" includes every baseline control. Pod Security Admission would
 * refuse a pod that fails any of them in a namespace labelled
 * `pod-security.kubernetes.io/enforce: restricted`; the same checks run here
 * as code, offline, and make cluster-test applies the chart to a real API
 * server with that label.
 */

/**
 * The labels of a namespace that admits only "restricted" pods (enforce),
 * and warns and audits against the same level: the chart puts them on a
 * namespace of its own, the cluster test on the namespace it creates.
 */
export const RESTRICTED_NAMESPACE_LABELS: Readonly<Record<string, string>> = {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/enforce-version': 'latest',
  'pod-security.kubernetes.io/warn': 'restricted',
  'pod-security.kubernetes.io/warn-version': 'latest',
  'pod-security.kubernetes.io/audit': 'restricted',
  'pod-security.kubernetes.io/audit-version': 'latest',
};

/* eslint-disable @typescript-eslint/no-explicit-any -- pod specs are plain JSON */
export interface PssControl {
  readonly level: 'baseline' | 'restricted';
  /** The fields of the pod template that decide the control. */
  readonly fields: string;
  readonly check: (pod: any, annotations: Record<string, string>) => string[];
}

const containersOf = (pod: any): any[] => [
  ...(pod.initContainers ?? []),
  ...(pod.containers ?? []),
  ...(pod.ephemeralContainers ?? []),
];
const each = (pod: any, f: (c: any) => string | undefined) =>
  containersOf(pod).flatMap((c) => {
    const v = f(c);
    return v ? [`${c.name}: ${v}`] : [];
  });

const BASELINE_CAPABILITIES = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
]);
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
const RESTRICTED_VOLUMES = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);
const SECCOMP_OK = new Set(['RuntimeDefault', 'Localhost']);

/** Every security context of the pod: the pod's own and each container's. */
const contexts = (pod: any): [string, any][] => [
  ['pod', pod.securityContext ?? {}],
  ...containersOf(pod).map((c): [string, any] => [c.name, c.securityContext ?? {}]),
];

export const PSS_CONTROLS: Readonly<Record<string, PssControl>> = {
  HostProcess: {
    level: 'baseline',
    fields: 'securityContext.windowsOptions.hostProcess (pod, containers): unset or false',
    check: (pod) =>
      contexts(pod)
        .filter(([, sc]) => sc.windowsOptions?.hostProcess === true)
        .map(([who]) => `${who}: windowsOptions.hostProcess is true`),
  },
  'Host Namespaces': {
    level: 'baseline',
    fields: 'spec.hostNetwork, spec.hostPID, spec.hostIPC: unset or false',
    check: (pod) =>
      ['hostNetwork', 'hostPID', 'hostIPC'].filter((f) => pod[f] === true).map((f) => `pod: ${f} is true`),
  },
  'Privileged Containers': {
    level: 'baseline',
    fields: 'containers[*].securityContext.privileged: unset or false',
    check: (pod) => each(pod, (c) => (c.securityContext?.privileged === true ? 'privileged' : undefined)),
  },
  'Capabilities (baseline)': {
    level: 'baseline',
    fields: 'containers[*].securityContext.capabilities.add: only the baseline set',
    check: (pod) =>
      each(pod, (c) => {
        const extra = (c.securityContext?.capabilities?.add ?? []).filter((a: string) => !BASELINE_CAPABILITIES.has(a));
        return extra.length ? `adds ${extra.join(', ')}` : undefined;
      }),
  },
  'HostPath Volumes': {
    level: 'baseline',
    fields: 'spec.volumes[*].hostPath: unset',
    check: (pod) => (pod.volumes ?? []).filter((v: any) => v.hostPath).map((v: any) => `volume ${v.name}: hostPath`),
  },
  'Host Ports': {
    level: 'baseline',
    fields: 'containers[*].ports[*].hostPort: unset or 0',
    check: (pod) =>
      each(pod, (c) =>
        (c.ports ?? []).some((p: any) => p.hostPort && p.hostPort !== 0) ? 'uses a hostPort' : undefined,
      ),
  },
  AppArmor: {
    level: 'baseline',
    fields: 'securityContext.appArmorProfile.type and the container.apparmor annotations: not Unconfined',
    check: (pod, annotations) => [
      ...contexts(pod)
        .filter(([, sc]) => sc.appArmorProfile?.type === 'Unconfined')
        .map(([who]) => `${who}: appArmorProfile Unconfined`),
      ...Object.entries(annotations)
        .filter(([k, v]) => k.startsWith('container.apparmor.security.beta.kubernetes.io/') && v === 'unconfined')
        .map(([k]) => `annotation ${k} is unconfined`),
    ],
  },
  SELinux: {
    level: 'baseline',
    fields: 'securityContext.seLinuxOptions (pod, containers): type from the allowed set, no user or role',
    check: (pod) =>
      contexts(pod).flatMap(([who, sc]) => {
        const o = sc.seLinuxOptions;
        if (!o) return [];
        const v: string[] = [];
        if (!SELINUX_TYPES.has(o.type ?? '')) v.push(`${who}: seLinuxOptions.type ${o.type}`);
        if (o.user || o.role) v.push(`${who}: seLinuxOptions sets user or role`);
        return v;
      }),
  },
  '/proc Mount Type': {
    level: 'baseline',
    fields: 'containers[*].securityContext.procMount: unset or Default',
    check: (pod) =>
      each(pod, (c) => {
        const m = c.securityContext?.procMount;
        return m !== undefined && m !== 'Default' ? `procMount ${m}` : undefined;
      }),
  },
  'Seccomp (baseline)': {
    level: 'baseline',
    fields: 'securityContext.seccompProfile.type (pod, containers): not Unconfined',
    check: (pod) =>
      contexts(pod)
        .filter(([, sc]) => sc.seccompProfile?.type === 'Unconfined')
        .map(([who]) => `${who}: seccompProfile Unconfined`),
  },
  Sysctls: {
    level: 'baseline',
    fields: 'spec.securityContext.sysctls[*].name: only the safe set',
    check: (pod) =>
      (pod.securityContext?.sysctls ?? [])
        .filter((s: any) => !SAFE_SYSCTLS.has(s.name))
        .map((s: any) => `pod: sysctl ${s.name}`),
  },
  'Volume Types': {
    level: 'restricted',
    fields:
      'spec.volumes[*]: configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected or secret',
    check: (pod) =>
      (pod.volumes ?? []).flatMap((v: any) => {
        const types = Object.keys(v).filter((k) => k !== 'name');
        return types.every((t) => RESTRICTED_VOLUMES.has(t)) ? [] : [`volume ${v.name}: ${types.join(', ')}`];
      }),
  },
  'Privilege Escalation': {
    level: 'restricted',
    fields: 'containers[*].securityContext.allowPrivilegeEscalation: false',
    check: (pod) =>
      each(pod, (c) =>
        c.securityContext?.allowPrivilegeEscalation === false ? undefined : 'allowPrivilegeEscalation is not false',
      ),
  },
  'Running as Non-root': {
    level: 'restricted',
    fields: 'spec.securityContext.runAsNonRoot: true (or true on every container), never false on a container',
    check: (pod) =>
      each(pod, (c) => {
        const own = c.securityContext?.runAsNonRoot;
        return own === true || (own === undefined && pod.securityContext?.runAsNonRoot === true)
          ? undefined
          : 'runAsNonRoot is not true';
      }),
  },
  'Running as Non-root user': {
    level: 'restricted',
    fields: 'securityContext.runAsUser (pod, containers): unset or not 0',
    check: (pod) =>
      contexts(pod)
        .filter(([, sc]) => sc.runAsUser === 0)
        .map(([who]) => `${who}: runAsUser is 0`),
  },
  'Seccomp (restricted)': {
    level: 'restricted',
    fields: 'spec.securityContext.seccompProfile.type: RuntimeDefault or Localhost (or on every container)',
    check: (pod) =>
      each(pod, (c) => {
        const type = c.securityContext?.seccompProfile?.type ?? pod.securityContext?.seccompProfile?.type;
        return SECCOMP_OK.has(type) ? undefined : `seccompProfile is ${type ?? 'unset'}`;
      }),
  },
  'Capabilities (restricted)': {
    level: 'restricted',
    fields: 'containers[*].securityContext.capabilities: drop includes ALL; add only NET_BIND_SERVICE',
    check: (pod) =>
      each(pod, (c) => {
        const caps = c.securityContext?.capabilities ?? {};
        if (!(caps.drop ?? []).includes('ALL')) return 'capabilities do not drop ALL';
        const added = (caps.add ?? []).filter((a: string) => a !== 'NET_BIND_SERVICE');
        return added.length ? `adds ${added.join(', ')}` : undefined;
      }),
  },
};

/** Every failed control for a pod template, as `control: detail`. */
export function pssViolations(template: any): string[] {
  const pod = template?.spec ?? {};
  const annotations = template?.metadata?.annotations ?? {};
  return Object.entries(PSS_CONTROLS).flatMap(([name, c]) => c.check(pod, annotations).map((v) => `${name}: ${v}`));
}
