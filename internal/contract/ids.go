package contract

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/incident-server/incident-server/internal/incident"
)

// Workflow ID schemes. An incident's workflow ID says how it was opened:
//
//	incident/<incident ID>                     opened without a dedup key or Idempotency-Key
//	incident-dedup/<service>/<hash of key>     every alert and open with that dedup key
//	incident-request/<service>/<hash>          an open with an Idempotency-Key and no dedup key
//	heartbeat/<monitor ID>                     a heartbeat monitor (HeartbeatWorkflow)
//
// A dedup or request workflow ID is reused after its incident resolves: the
// next alert with the key opens the next incident under it
// (IDReusePolicy). Updates carry the incident ID, so a command meant for
// an older incident under a reused ID is refused.

// IDReusePolicy lets a closed incident's workflow ID start the next
// incident under the same dedup key.
const IDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE

// WorkflowTaskTimeout is the workflow task timeout of every workflow the
// engine starts (and their continuations): how long a task taken by a
// worker that then died waits before another worker gets it. A task runs in
// milliseconds; one that runs local activities for longer is kept alive by
// the SDK.
const WorkflowTaskTimeout = 5 * time.Second

// IncidentWorkflowID is the workflow ID of an incident opened without a
// dedup key or an Idempotency-Key.
func IncidentWorkflowID(incidentID string) string { return "incident/" + incidentID }

// DedupWorkflowID is the workflow ID shared by every alert with the same
// service and dedup key. While an incident under it is open, new alerts join
// it; after it resolves, the same ID starts a new incident. The key is hashed
// so that any text is a valid, bounded ID.
func DedupWorkflowID(service, dedupKey string) string {
	return "incident-dedup/" + service + "/" + shortHash(dedupKey)
}

// RequestWorkflowID is the workflow ID of an incident opened with an
// Idempotency-Key and no dedup key: the same caller retrying the same
// request for the same service reaches the same workflow, so a retry after
// a lost answer can never open a second incident.
func RequestWorkflowID(caller, service, idempotencyKey string) string {
	return "incident-request/" + requestKey(caller, service, idempotencyKey)
}

func requestKey(caller, service, idempotencyKey string) string {
	return service + "/" + shortHash(caller+"\x00"+service+"\x00"+idempotencyKey)
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// Open names the workflow and update of one request to open an incident.
type Open struct {
	// WorkflowID is the workflow the request starts or joins.
	WorkflowID string
	// UpdateID is the ID of its open update: Temporal answers a repeated
	// update ID with the first outcome instead of running it again.
	UpdateID string
}

// OpenIDs picks the workflow and update IDs of a request to open incident
// incidentID (a new ID, proposed by the request) on service. A dedup key
// joins the incident open under it. An Idempotency-Key (with the caller it
// belongs to) makes a retry reach the same workflow, when there is no
// dedup key, and send the same update, so it gets the first answer back.
// Without either, the request has a workflow of its own.
func OpenIDs(incidentID, service, dedupKey, caller, idempotencyKey string) Open {
	o := Open{WorkflowID: IncidentWorkflowID(incidentID), UpdateID: UpdateOpen + "/" + incidentID}
	switch {
	case dedupKey != "":
		o.WorkflowID = DedupWorkflowID(service, dedupKey)
	case idempotencyKey != "":
		o.WorkflowID = RequestWorkflowID(caller, service, idempotencyKey)
	}
	if idempotencyKey != "" {
		o.UpdateID = OpenRequestKey(caller, service, idempotencyKey)
	}
	return o
}

// OpenRequestKey identifies a request to open an incident sent with an
// Idempotency-Key, the same for its retries: the update ID of its open
// update, and the OpenRequest.RequestKey the workflow keeps of the request
// that started it.
func OpenRequestKey(caller, service, idempotencyKey string) string {
	return UpdateOpen + "/" + requestKey(caller, service, idempotencyKey)
}

// EventRequestKey is the entry of a timeline event's data naming the keyed
// request that caused it, if one did: the OpenRequestKey of the request
// that opened the incident (its opened event), the CommandUpdateID of a
// status change's command.
const EventRequestKey = "request_key"

// KeyedCommand reports whether updateID is a CommandUpdateID of a command
// sent with an Idempotency-Key (the SDK's own update IDs have no '/').
func KeyedCommand(updateID string) bool { return strings.Contains(updateID, "/") }

// CommandUpdateID is the update ID of a command (acknowledge, note, …) sent
// with an Idempotency-Key, so that a retry gets the first answer; "" (a
// fresh ID) without one.
func CommandUpdateID(update, idempotencyKey string) string {
	if idempotencyKey == "" {
		return ""
	}
	return update + "/" + idempotencyKey
}

// HeartbeatWorkflowID is the workflow ID of a heartbeat monitor: one
// workflow per monitor, so a ping finds it, or starts it, by monitor ID.
func HeartbeatWorkflowID(monitorID string) string { return "heartbeat/" + monitorID }

// HeartbeatDedupKey is the dedup key of a monitor's incidents, and the
// fingerprint of their alert. With the service it gives the incidents'
// workflow ID (DedupWorkflowID), so an alert sent with the same key joins
// the heartbeat's incident rather than opening a second one.
func HeartbeatDedupKey(monitorID string) string { return "heartbeat/" + monitorID }

// HeartbeatIncidentID is the ID of the incident a monitor opens when it
// misses a deadline at (workflow time): unique per outage even if the
// monitor's workflow is started afresh, and the same on replay. Monitor
// IDs are hb_ and lowercase base32, so the ID is [a-z0-9_], 42 characters.
func HeartbeatIncidentID(monitorID string, at time.Time) string {
	return "inc_hb_" + strings.TrimPrefix(monitorID, "hb_") + "_" + strconv.FormatInt(at.UnixMilli(), 36)
}

// OpsDedupKey is the dedup key, on OpsService, of the incident the engine
// opens about itself under key ("backup", "reconcile"): while one is open,
// the next alert with the key joins it.
func OpsDedupKey(key string) string { return string(incident.SourceEngine) + "/" + key }

// OpsWorkflowID is the workflow ID of the incident the engine opens about
// itself under key.
func OpsWorkflowID(key string) string { return DedupWorkflowID(OpsService, OpsDedupKey(key)) }

// OpsIncidentID is the ID of an incident the engine opens about itself
// under key at (workflow time).
func OpsIncidentID(key string, at time.Time) string {
	return "inc_ops_" + key + "_" + strconv.FormatInt(at.UnixMilli(), 36)
}

// SearchAttributeTypes are the custom search attributes the workflows
// upsert, with their types. The embedded server creates them with the
// namespace; on a cluster the worker adds whichever are missing.
var SearchAttributeTypes = map[string]enumspb.IndexedValueType{
	SearchStatus.GetName():          enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	SearchSeverity.GetName():        enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	SearchService.GetName():         enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	SearchEscalationLevel.GetName(): enumspb.INDEXED_VALUE_TYPE_INT,
	SearchSLADeadline.GetName():     enumspb.INDEXED_VALUE_TYPE_DATETIME,
	SearchRunbookWaiting.GetName():  enumspb.INDEXED_VALUE_TYPE_BOOL,
}
