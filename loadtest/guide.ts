/**
 * The operations guide's estimate of cached-redirect throughput for one CPU
 * core, req/s: what `make bench` measures against and `make plan` falls back
 * to when nothing has been measured yet.
 */
export const GUIDE_REQ_PER_SEC_PER_CORE = 1000;
