package ingest_test

// Payloads in the shapes the real senders use. The decoder tests assert on
// them and the fuzz targets start from them.

// amFiring is an Alertmanager v4 notification for a group of two firing
// alerts, grouped by alertname under a route that matches severity=critical.
const amFiring = `{
  "receiver": "incident-server",
  "status": "firing",
  "alerts": [
    {
      "status": "firing",
      "labels": {
        "alertname": "InstanceDown",
        "instance": "node-1.example.org:9100",
        "job": "node",
        "severity": "critical"
      },
      "annotations": {
        "description": "node-1.example.org:9100 of job node has been down for more than 5 minutes.",
        "summary": "Instance node-1.example.org:9100 down",
        "runbook_url": "https://runbooks.example.org/InstanceDown"
      },
      "startsAt": "2024-05-02T10:15:30.123456789Z",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "http://prometheus.example.org:9090/graph?g0.expr=up+%3D%3D+0\u0026g0.tab=1",
      "fingerprint": "3b3b4d6c1f0a2e11"
    },
    {
      "status": "firing",
      "labels": {
        "alertname": "InstanceDown",
        "instance": "node-2.example.org:9100",
        "job": "node",
        "severity": "critical"
      },
      "annotations": {
        "description": "node-2.example.org:9100 of job node has been down for more than 5 minutes.",
        "summary": "Instance node-2.example.org:9100 down",
        "runbook_url": "https://runbooks.example.org/InstanceDown"
      },
      "startsAt": "2024-05-02T12:16:00+02:00",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "http://prometheus.example.org:9090/graph?g0.expr=up+%3D%3D+0\u0026g0.tab=1",
      "fingerprint": "9e2a7c11d04b5f38"
    }
  ],
  "groupLabels": {"alertname": "InstanceDown"},
  "commonLabels": {"alertname": "InstanceDown", "job": "node", "severity": "critical"},
  "commonAnnotations": {"runbook_url": "https://runbooks.example.org/InstanceDown"},
  "externalURL": "http://alertmanager.example.org:9093",
  "version": "4",
  "groupKey": "{}/{severity=\"critical\"}:{alertname=\"InstanceDown\"}",
  "truncatedAlerts": 0
}`

// amResolved is the same group once both alerts have cleared.
const amResolved = `{
  "receiver": "incident-server",
  "status": "resolved",
  "alerts": [
    {
      "status": "resolved",
      "labels": {"alertname": "InstanceDown", "instance": "node-1.example.org:9100", "job": "node", "severity": "critical"},
      "annotations": {"summary": "Instance node-1.example.org:9100 down"},
      "startsAt": "2024-05-02T10:15:30.123456789Z",
      "endsAt": "2024-05-02T10:42:00Z",
      "generatorURL": "http://prometheus.example.org:9090/graph?g0.expr=up+%3D%3D+0\u0026g0.tab=1",
      "fingerprint": "3b3b4d6c1f0a2e11"
    },
    {
      "status": "resolved",
      "labels": {"alertname": "InstanceDown", "instance": "node-2.example.org:9100", "job": "node", "severity": "critical"},
      "annotations": {"summary": "Instance node-2.example.org:9100 down"},
      "startsAt": "2024-05-02T10:16:00Z",
      "endsAt": "2024-05-02T10:43:00Z",
      "generatorURL": "http://prometheus.example.org:9090/graph?g0.expr=up+%3D%3D+0\u0026g0.tab=1",
      "fingerprint": "9e2a7c11d04b5f38"
    }
  ],
  "groupLabels": {"alertname": "InstanceDown"},
  "commonLabels": {"alertname": "InstanceDown", "job": "node", "severity": "critical"},
  "commonAnnotations": {},
  "externalURL": "http://alertmanager.example.org:9093",
  "version": "4",
  "groupKey": "{}/{severity=\"critical\"}:{alertname=\"InstanceDown\"}",
  "truncatedAlerts": 0
}`

// amGrafana is what Grafana's webhook contact point sends: the Alertmanager
// shape plus orgId, title, state, message and per-alert silenceURL,
// dashboardURL, panelURL, values and valueString, under version "1". Its
// second alert has been resolved while the group still fires.
const amGrafana = `{
  "receiver": "My Super Webhook",
  "status": "firing",
  "orgId": 1,
  "alerts": [
    {
      "status": "firing",
      "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1", "severity": "warning"},
      "annotations": {
        "description": "The system has high memory usage",
        "runbook_url": "https://myrunbook.com/runbook/1234",
        "summary": "This alert was triggered for zone us-1"
      },
      "startsAt": "2021-10-12T09:51:03.157076+02:00",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit",
      "fingerprint": "c6eadffa33fcdf37",
      "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1",
      "dashboardURL": "",
      "panelURL": "",
      "values": {"B": 44.23943737541908, "C": 1},
      "valueString": "[ var='B' labels={} value=44.23943737541908 ]"
    },
    {
      "status": "resolved",
      "labels": {"alertname": "High CPU usage", "team": "blue", "zone": "eu-1"},
      "annotations": {
        "description": "The system has high CPU usage",
        "runbook_url": "https://myrunbook.com/runbook/1234"
      },
      "startsAt": "2021-10-12T09:56:03.157076+02:00",
      "endsAt": "2021-10-12T10:06:03.157076+02:00",
      "generatorURL": "https://play.grafana.org/alerting/d1rdpdv7k/edit",
      "fingerprint": "bc97ff14869b13e3",
      "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT1%2Cteam%3Dblue%2Czone%3Deu-1",
      "dashboardURL": "",
      "panelURL": "",
      "values": null,
      "valueString": ""
    }
  ],
  "groupLabels": {},
  "commonLabels": {"team": "blue"},
  "commonAnnotations": {},
  "externalURL": "https://play.grafana.org/",
  "version": "1",
  "groupKey": "{}:{}",
  "truncatedAlerts": 0,
  "title": "[FIRING:1, RESOLVED:1]  (blue)",
  "state": "alerting",
  "message": "**Firing**\n\nLabels:\n - alertname = High memory usage\n"
}`

// amNoFingerprint is an older Alertmanager notification: no fingerprint and
// no truncatedAlerts, as Alertmanager sent before v0.19.
const amNoFingerprint = `{
  "receiver": "webhook",
  "status": "firing",
  "alerts": [
    {
      "status": "firing",
      "labels": {"alertname": "Test", "dc": "eu-west-1", "instance": "localhost:9090", "job": "prometheus24"},
      "annotations": {"message": "some message"},
      "startsAt": "2018-08-03T09:52:26.739266876+02:00",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "http://example.com:9090/graph?g0.expr=go_memstats_alloc_bytes+%3E+0\u0026g0.tab=1"
    }
  ],
  "groupLabels": {"alertname": "Test", "job": "prometheus24"},
  "commonLabels": {"alertname": "Test", "dc": "eu-west-1", "instance": "localhost:9090", "job": "prometheus24"},
  "commonAnnotations": {"message": "some message"},
  "externalURL": "http://example.com:9093",
  "version": "4",
  "groupKey": "{}:{alertname=\"Test\", job=\"prometheus24\"}"
}`

// pdTriggerDocs is the trigger example of PagerDuty's "Send an Alert Event"
// documentation, note the timestamp's offset without a colon.
const pdTriggerDocs = `{
  "payload": {
    "summary": "Example alert on host1.example.com",
    "timestamp": "2015-07-17T08:42:58.315+0000",
    "source": "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-stats-prod-003",
    "severity": "info",
    "component": "postgres",
    "group": "prod-datapipe",
    "class": "deploy",
    "custom_details": {
      "ping time": "1500ms",
      "load avg": 0.75
    }
  },
  "routing_key": "samplekeyhere",
  "dedup_key": "samplekeyhere",
  "images": [
    {
      "src": "https://www.pagerduty.com/wp-content/uploads/2016/05/pagerduty-logo-green.png",
      "href": "https://example.com/",
      "alt": "Example text"
    }
  ],
  "links": [
    {
      "href": "https://example.com/",
      "text": "Link text"
    }
  ],
  "event_action": "trigger",
  "client": "Sample Monitoring Service",
  "client_url": "https://monitoring.example.com"
}`

// pdTriggerAPIRef is the request example of PagerDuty's Events API v2
// reference.
const pdTriggerAPIRef = `{
  "payload": {
    "summary": "DISK at 99% on machine prod-datapipe03.example.com",
    "timestamp": "2015-07-17T08:42:58.315+0000",
    "severity": "critical",
    "source": "prod-datapipe03.example.com",
    "component": "mysql",
    "group": "prod-datapipe",
    "class": "disk",
    "custom_details": {
      "free space": "1%",
      "ping time": "1500ms",
      "load avg": 0.75
    }
  },
  "routing_key": "e93facc04764012d7bfb002500d5d1a6",
  "dedup_key": "srv01/mysql",
  "event_action": "trigger",
  "client": "Sample Monitoring Service",
  "client_url": "https://monitoring.service.com",
  "links": [
    {
      "href": "http://pagerduty.example.com",
      "text": "An example link."
    }
  ],
  "images": [
    {
      "src": "https://chart.googleapis.com/chart?chs=600x400&chd=t:6,2,9,5,2,5,7,4,8,2,1&cht=lc&chds=a&chxt=y&chm=D,0033FF,0,0,5,1",
      "href": "https://google.com",
      "alt": "An example link with an image"
    }
  ]
}`

// pdAcknowledgeDocs and pdResolveDocs are the follow-up examples of the same
// documentation page.
const (
	pdAcknowledgeDocs = `{
  "routing_key": "routingkeyhere",
  "dedup_key": "dedupkeyhere",
  "event_action": "acknowledge"
}`
	pdResolveDocs = `{
  "routing_key": "routingkeyhere",
  "dedup_key": "dedupkeyhere",
  "event_action": "resolve"
}`
)

// pdTriggerNoDedupKey is a trigger that leaves the dedup key to the
// receiver, as most PagerDuty client libraries do by default.
const pdTriggerNoDedupKey = `{
  "routing_key": "ik_3f9a2c",
  "event_action": "trigger",
  "payload": {"summary": "Backup job failed", "source": "backup-01", "severity": "error"}
}`

// genericTrigger and genericResolve are our own format.
const (
	genericTrigger = `{
  "summary": "Nightly export failed",
  "details": {"job": "export", "exit_code": 2, "log": ["line 1", "line 2"]},
  "dedup_key": "export/nightly",
  "severity": "warning"
}`
	genericResolve = `{"dedup_key": "export/nightly", "action": "resolve"}`
)
