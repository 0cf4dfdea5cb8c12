// The one module that talks to the SmartSupport API: the key (an operator's or an agent's), fetch, and errors a
// person can read.

const KEY_STORAGE = "smartsupport.apiKey";
const rejectionListeners = new Set();

// Whatever the API said, these situations read better in the operator's words.
const MESSAGES = {
  unreachable: "Cannot reach the SmartSupport API",
  401: "Key rejected: the API does not accept this key",
  503: "Redis is unavailable: the API cannot reach its ticket store, try again shortly",
};

/** An API call that failed; `status` is 0 when the API could not be reached at all. */
export class ApiError extends Error {
  constructor(message, { status = 0, code = "unreachable", details = [] } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export const storedKey = () => sessionStorage.getItem(KEY_STORAGE);

export function signOut() {
  sessionStorage.removeItem(KEY_STORAGE);
}

/** Check `key` against the API and keep it for this tab; throws ApiError ("Key rejected") when refused. */
export async function signIn(key) {
  await request("/api/meta", { key });
  sessionStorage.setItem(KEY_STORAGE, key);
}

/** Call `listener` when the API refuses the key this tab signed in with; returns the unsubscribe function. */
export function onKeyRejected(listener) {
  rejectionListeners.add(listener);
  return () => rejectionListeners.delete(listener);
}

export const listTickets = (sort) => request(`/api/tickets?sort=${sort}`).then((data) => data.tickets);
export const getTicket = (id) => request(`/api/tickets/${encodeURIComponent(id)}`);
export const submitTicket = (ticket) => request("/api/tickets", { method: "POST", body: ticket });
export const correctCategory = (id, label) =>
  request(`/api/tickets/${encodeURIComponent(id)}/category`, { method: "POST", body: { label } });
export const correctUrgency = (id, level) =>
  request(`/api/tickets/${encodeURIComponent(id)}/urgency`, { method: "POST", body: { level } });
export const redeliverWebhook = (id) =>
  request(`/api/tickets/${encodeURIComponent(id)}/webhooks/redeliver`, { method: "POST" });
export const retryTicket = (id) => request(`/api/tickets/${encodeURIComponent(id)}/retry`, { method: "POST" });
export const getWebhooks = () => request("/api/webhooks");
export const getDeadLetters = () => request("/api/webhooks/dead").then((data) => data.events);
export const replayDeadLetters = (ticketId) =>
  request("/api/webhooks/dead/replay", { method: "POST", body: ticketId ? { ticket_id: ticketId } : {} });
export const enableEndpoint = (url) => request("/api/webhooks/endpoints/enable", { method: "POST", body: { url } });
export const listIncidents = () => request("/api/incidents?status=open").then((data) => data.incidents);
export const closeIncident = (id) => request(`/api/incidents/${encodeURIComponent(id)}/close`, { method: "POST" });
export const mergeIncident = (id, into) =>
  request(`/api/incidents/${encodeURIComponent(id)}/merge`, { method: "POST", body: { into } });
// Teams and routes: the team queues, taking the next ticket (null when none waits: 204), acknowledge, resolve.
export const getTeams = () => request("/api/teams");
export const listTeamTickets = (team, { assignee, status, sort = "urgency", limit = 200 } = {}) => {
  const query = new URLSearchParams({ team, sort, limit: String(limit) });
  if (assignee) query.set("assignee", assignee);
  if (status) query.set("status", status);
  return request(`/api/tickets?${query}`).then((data) => data.tickets);
};
// An agent's key acts as its own agent: `agent` is then left out.
export const takeNext = (team, agent) =>
  request(`/api/teams/${encodeURIComponent(team)}/next`, { method: "POST", body: agent ? { agent } : {} });
export const acknowledge = (id, agent) =>
  request(`/api/tickets/${encodeURIComponent(id)}/ack`, { method: "POST", body: agent ? { agent } : {} });
export const resolve = (id, agent) =>
  request(`/api/tickets/${encodeURIComponent(id)}/resolve`, { method: "POST", body: agent ? { agent } : {} });
// Waiting on the customer: the SLA clock pauses until they reply (an operator's key may leave `agent` out).
export const waitOnCustomer = (id) => request(`/api/tickets/${encodeURIComponent(id)}/wait`, { method: "POST", body: {} });
// An agent's presence: "available", "away" or "calendar" (follows their calendar); work is pushed to them at once.
export const setPresence = (agent, status) =>
  request(`/api/agents/${encodeURIComponent(agent)}/presence`, { method: "PUT", body: { status } });
export const getMeta = () => request("/api/meta");
// Who the key is: {role: "operator" | "agent" | "submitter", agent, teams}.
export const getMe = () => request("/api/me");
export const getStats = () => request("/api/stats?last=200");
// Health needs no key, and its 503 is an answer ({redis, workers}), not a failure.
export const getHealth = () => request("/api/health", { key: null, answers: [503] });

async function request(path, { method = "GET", body, key = storedKey(), answers = [] } = {}) {
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(MESSAGES.unreachable);
  }
  const data = await response.json().catch(() => null);
  if (response.ok || (answers.includes(response.status) && data)) return data;
  if (response.status === 401 && key && key === storedKey()) {
    signOut();
    rejectionListeners.forEach((listener) => listener());
  }
  const error = data?.error ?? {};
  throw new ApiError(MESSAGES[response.status] ?? error.message ?? `The API answered ${response.status}`, {
    status: response.status,
    code: error.code ?? "http_error",
    details: error.details ?? [],
  });
}
