import { PSS_CONTROLS, pssViolations } from '../pod-security';
import { CHARTS_OUT, find, readManifests } from '../../test-support/synth';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are plain JSON */
const committed = readManifests(CHARTS_OUT).flatMap((f) => f.objects);
const template = () => JSON.parse(JSON.stringify(find(committed, 'Deployment').spec.template));
const first = (t: any) => t.spec.containers[0];

/** One change per control that a restricted namespace would refuse. */
const BREAKS: Record<string, (t: any) => void> = {
  HostProcess: (t) => (first(t).securityContext.windowsOptions = { hostProcess: true }),
  'Host Namespaces': (t) => (t.spec.hostPID = true),
  'Privileged Containers': (t) => (first(t).securityContext.privileged = true),
  'Capabilities (baseline)': (t) => (first(t).securityContext.capabilities.add = ['SYS_ADMIN']),
  'HostPath Volumes': (t) => t.spec.volumes.push({ name: 'host', hostPath: { path: '/var/run' } }),
  'Host Ports': (t) => (first(t).ports[0].hostPort = 80),
  AppArmor: (t) =>
    (t.metadata.annotations[`container.apparmor.security.beta.kubernetes.io/${first(t).name}`] = 'unconfined'),
  SELinux: (t) => (t.spec.securityContext.seLinuxOptions = { type: 'spc_t' }),
  '/proc Mount Type': (t) => (first(t).securityContext.procMount = 'Unmasked'),
  'Seccomp (baseline)': (t) => (first(t).securityContext.seccompProfile = { type: 'Unconfined' }),
  Sysctls: (t) => (t.spec.securityContext.sysctls = [{ name: 'net.core.somaxconn', value: '4096' }]),
  'Volume Types': (t) => t.spec.volumes.push({ name: 'nfs', nfs: { server: 'nas', path: '/x' } }),
  'Privilege Escalation': (t) => delete first(t).securityContext.allowPrivilegeEscalation,
  'Running as Non-root': (t) => (first(t).securityContext.runAsNonRoot = false),
  'Running as Non-root user': (t) => (first(t).securityContext.runAsUser = 0),
  'Seccomp (restricted)': (t) => delete t.spec.securityContext.seccompProfile,
  'Capabilities (restricted)': (t) => (first(t).securityContext.capabilities.drop = ['NET_RAW']),
};

describe('charts-out/ under the Pod Security Standard "restricted"', () => {
  it('has a breaking change for every control', () => {
    expect(Object.keys(BREAKS).sort()).toEqual(Object.keys(PSS_CONTROLS).sort());
  });

  it.each(Object.entries(PSS_CONTROLS).map(([name, c]) => [name, c.level, c.fields] as const))(
    '%s (%s) holds — %s',
    (name) => {
      const t = template();
      expect(PSS_CONTROLS[name]!.check(t.spec, t.metadata.annotations ?? {})).toEqual([]);
    },
  );

  it.each(Object.keys(BREAKS))('%s catches its breaking change', (name) => {
    const t = template();
    t.metadata.annotations ??= {};
    BREAKS[name]!(t);
    // A baseline break may also fail its restricted twin (hostPath is also a forbidden volume type).
    const fired = new Set(pssViolations(t).map((v) => v.slice(0, v.indexOf(': '))));
    expect(fired).toContain(name);
  });
});
