// Load sluicegate the way `sluicegate drill` does: batches of client-chosen event ids,
// POST /v1/events/{queue} with a JSON array of {event_id, payload}; retry what the API refuses
// for the moment (429, 503, other 5xx, network errors), as a careful client would.
//
//   k6 run -e API_URL=http://localhost:8000 -e EVENTS=45000 -e BATCH=100 -e VUS=8 deploy/k6/load.js
//
// Afterwards compare `accepted_events` with `sluicegate status` (see docs/drill.md,
// "Reconciling a k6 run"). Use a fresh QUEUE (the default is unique per run) so the queue's
// counts are this run's alone.
import http from 'k6/http';
import exec from 'k6/execution';
import { sleep } from 'k6';
import { Counter } from 'k6/metrics';

const API_URL = __ENV.API_URL || 'http://localhost:8000';
const EVENTS = parseInt(__ENV.EVENTS || '45000', 10);
const BATCH = parseInt(__ENV.BATCH || '100', 10);
const VUS = parseInt(__ENV.VUS || '8', 10);
const RUN = __ENV.RUN || `k6-${Date.now().toString(36)}`;
const QUEUE = __ENV.QUEUE || RUN;
const MAX_ATTEMPTS = parseInt(__ENV.MAX_ATTEMPTS || '30', 10);
const RETRYABLE = [0, 429, 500, 502, 503, 504]; // 0: no response (connection refused, reset)

const accepted = new Counter('accepted_events'); // answered 2xx: must be stored exactly once
const refused = new Counter('refused_events'); // final 4xx/5xx: must not be stored
const unknown = new Counter('unknown_events'); // last attempt timed out: may or may not be stored
const retries = new Counter('retried_requests');

export const options = {
  scenarios: {
    load: {
      executor: 'shared-iterations',
      vus: VUS,
      iterations: Math.ceil(EVENTS / BATCH),
      maxDuration: '10m',
    },
  },
  thresholds: { refused_events: ['count==0'], unknown_events: ['count==0'] },
};

function eventId(n) {
  return `${RUN}-${String(n).padStart(7, '0')}`;
}

function batchBody(iteration) {
  const first = iteration * BATCH;
  const last = Math.min(first + BATCH, EVENTS);
  const events = [];
  for (let n = first; n < last; n++) {
    events.push({ event_id: eventId(n), payload: { k6: true, n } });
  }
  return events;
}

export default function () {
  const events = batchBody(exec.scenario.iterationInTest);
  const body = JSON.stringify(events);
  const params = { headers: { 'Content-Type': 'application/json' }, timeout: '10s' };
  let outcome = 'refused';
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const response = http.post(`${API_URL}/v1/events/${QUEUE}`, body, params);
    if (response.status >= 200 && response.status < 300) {
      outcome = 'accepted';
      break;
    }
    // A timeout or a reset may have landed (status 0 with an error code 1050 is a timeout).
    outcome = response.status === 0 && response.error_code === 1050 ? 'unknown' : 'refused';
    if (!RETRYABLE.includes(response.status)) break;
    retries.add(1);
    const retryAfter = parseFloat(response.headers['Retry-After'] || '0');
    sleep(Math.min(Math.max(retryAfter, 0.05 * 2 ** Math.min(attempt, 5)), 2));
  }
  ({ accepted, refused, unknown })[outcome].add(events.length);
}

export function handleSummary(data) {
  const count = (name) => (data.metrics[name] ? data.metrics[name].values.count : 0);
  const line = `queue ${QUEUE}: ${count('accepted_events')} accepted, ` +
    `${count('refused_events')} refused, ${count('unknown_events')} unknown, ` +
    `${count('retried_requests')} retried requests\n`;
  return { stdout: line };
}
