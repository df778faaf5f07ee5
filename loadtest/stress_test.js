// k6 load test for a deployed BoltLink, on the traffic model's long tail of links:
//   DATABASE_URL=<the release's database> npm run loadtest:seed      # the links, in bulk; writes results/trace.json
//   BASE_URL=https://blt.example.com API_TOKENS=… k6 run loadtest/stress_test.js --vus 100 --duration 60s
// The redirects and link-info requests replay the trace npm run loadtest:seed drew from the model
// (TRACE=… for another file): k6 cannot run this project's TypeScript, so the draws are made there,
// once, and every VU reads them from one SharedArray. API_TOKENS is the service's own variable (the
// first token is used); the target must not rate-limit link creation from the load generator's
// address (RATE_LIMIT_CREATES=0, see loadtest/README.md). The mix and thresholds come from
// scenario.json, the same file the local runner (npm run loadtest) uses.
import http from 'k6/http';
import { check } from 'k6';
import { SharedArray } from 'k6/data';
import { Counter } from 'k6/metrics';

const scenario = JSON.parse(open('./scenario.json'));
const trace = new SharedArray('trace', () => JSON.parse(open(__ENV.TRACE || './results/trace.json')));
const BASE_URL = (__ENV.BASE_URL || 'http://localhost:5000').replace(/\/+$/, '');
const API_TOKEN = (__ENV.API_TOKENS || '').split(',')[0].trim();
const unexpected = new Counter('unexpected_status');

export const options = {
  thresholds: {
    http_req_failed: [`rate<${scenario.thresholds.maxErrorRate}`],
    http_req_duration: [`p(95)<${scenario.thresholds.p95Ms}`],
    unexpected_status: ['count<1'],
  },
};

const auth = { headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' } };
const random = () => Math.random().toString(36).slice(2, 12);

export function setup() {
  if (!API_TOKEN) throw new Error('set API_TOKENS to the tokens of the boltlink-api-tokens secret');
  if (trace.length === 0) throw new Error('the trace is empty: run npm run loadtest:seed first');
  const res = http.post(`${BASE_URL}/api/links`, JSON.stringify({ url: 'https://example.com/k6/probe' }), auth);
  if (res.headers['Ratelimit-Limit']) {
    throw new Error(`the target rate-limits link creation (RATE_LIMIT_CREATES): set it to 0 for a load test`);
  }
  if (res.status !== 201) throw new Error(`the probe create failed: ${res.status} ${res.body}`);
}

function pickStep() {
  let r = Math.random() * scenario.mix.reduce((n, s) => n + s.weight, 0);
  for (const step of scenario.mix) {
    r -= step.weight;
    if (r < 0) return step;
  }
  return scenario.mix[0];
}

// Redirects, 404s and 410s are answers, not failures.
http.setResponseCallback(http.expectedStatuses(200, 201, 302, 404));

// Each VU walks the trace from its own offset.
let position = -1;

export default function () {
  if (position < 0) position = Math.floor(Math.random() * trace.length);
  const step = pickStep();
  const slug = trace[position++ % trace.length];
  let res;
  if (step.name === 'redirect') res = http.get(`${BASE_URL}/${slug}`, { redirects: 0, tags: { name: 'redirect' } });
  else if (step.name === 'info') res = http.get(`${BASE_URL}/api/links/${slug}`, { tags: { name: 'info' } });
  else if (step.name === 'unknown')
    res = http.get(`${BASE_URL}/zz${random()}`, { redirects: 0, tags: { name: 'unknown' } });
  else
    res = http.post(`${BASE_URL}/api/links`, JSON.stringify({ url: `https://example.com/k6/${random()}` }), {
      ...auth,
      tags: { name: 'create' },
    });
  const ok = check(res, { [`${step.name} status ${step.expect.join('/')}`]: (r) => step.expect.includes(r.status) });
  if (!ok) unexpected.add(1, { step: step.name, status: String(res.status) });
}
