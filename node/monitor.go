package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// The cluster is asked about itself through each node's monitoring port: it
// needs no client connection and answers even while JetStream is unhealthy.

type serverJSInfo = server.JSInfo

var monitorClient = &http.Client{Timeout: 2 * time.Second}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := monitorClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, truncate(string(b), 200))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	return nil
}

// Healthz asks the node whether it is healthy, JetStream included.
func (n *Node) Healthz(ctx context.Context) error {
	var v map[string]any
	return getJSON(ctx, n.Spec.MonitorURL()+"/healthz", &v)
}

// Jsz returns the node's JetStream report, with stream details.
func (n *Node) Jsz(ctx context.Context) (*server.JSInfo, error) {
	var v server.JSInfo
	if err := getJSON(ctx, n.Spec.MonitorURL()+"/jsz?accounts=true&streams=true&raft=true", &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Routes returns the node's route connections as it sees them.
func (n *Node) Routes(ctx context.Context) ([]*server.RouteInfo, error) {
	var v server.Routez
	if err := getJSON(ctx, n.Spec.MonitorURL()+"/routez", &v); err != nil {
		return nil, err
	}
	return v.Routes, nil
}

// Varz returns the node's general report (version, uptime, ...).
func (n *Node) Varz(ctx context.Context) (*server.Varz, error) {
	var v server.Varz
	if err := getJSON(ctx, n.Spec.MonitorURL()+"/varz", &v); err != nil {
		return nil, err
	}
	return &v, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
