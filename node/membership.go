package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
)

// admin connects to a running node other than skip: as the system user
// when system is set (only it may change the meta group), else to the
// JetStream account.
func (c *Cluster) admin(skip string, system bool) (*nats.Conn, error) {
	var errs []error
	for _, n := range c.nodes {
		if n.Spec.Name == skip || !n.Running() {
			continue
		}
		opts := []nats.Option{nats.Name("jetsam-admin"), nats.Timeout(2 * time.Second), nats.MaxReconnects(0)}
		if system {
			opts = append(opts, nats.UserInfo(SystemUser, SystemPassword))
		}
		nc, err := nats.Connect(n.Spec.ClientURL(), opts...)
		if err == nil {
			return nc, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no running node to ask: %w", errors.Join(errs...))
}

// apiError is the error field of a JetStream API reply.
type apiError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
}

// request sends a JetStream API request and decodes the reply into out;
// an error reply is returned as an error. Only the meta leader answers most
// of these, and after a node is killed there may be none for a while: an
// unanswered request is sent again, every 2s, for up to 20s.
func request(ctx context.Context, nc *nats.Conn, subject string, body, out any) error {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var msg *nats.Msg
	for {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		var err error
		msg, err = nc.RequestWithContext(actx, subject, b)
		acancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("no answer to %s within 20s: %w", subject, err)
		}
		if errors.Is(err, nats.ErrNoResponders) {
			time.Sleep(250 * time.Millisecond)
		}
	}
	var resp struct {
		Error *apiError `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return fmt.Errorf("undecodable reply to %s: %w", subject, err)
	}
	if resp.Error != nil {
		return fmt.Errorf("%s (%d/%d)", resp.Error.Description, resp.Error.Code, resp.Error.ErrCode)
	}
	if out != nil {
		return json.Unmarshal(msg.Data, out)
	}
	return nil
}

// Step is one step of a membership change and how it ended.
type Step struct {
	Did     string
	Outcome string // "ok" or the error
}

func outcome(err error) string {
	if err != nil {
		return err.Error()
	}
	return "ok"
}

// RemovePeer takes a node that is down out of each stream's group and out
// of the meta group, asking the nodes still running, and wipes its data.
// It returns each step with its outcome ("remove n1 from stream S: ok");
// a refused step does not stop the next.
func (c *Cluster) RemovePeer(ctx context.Context, node string, streams []string) ([]string, error) {
	steps, err := c.removePeer(ctx, node, streams)
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.Did + ": " + s.Outcome
	}
	return out, err
}

func (c *Cluster) removePeer(ctx context.Context, node string, streams []string) ([]Step, error) {
	n := c.Node(node)
	if n == nil {
		return nil, fmt.Errorf("no node %q", node)
	}
	if n.Running() {
		return nil, fmt.Errorf("node %s is running: stop it before removing it", node)
	}
	server := n.Spec.Server()
	var steps []Step
	nc, err := c.admin(node, false)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	for _, s := range streams {
		err := request(ctx, nc, "$JS.API.STREAM.PEER.REMOVE."+s, map[string]string{"peer": server}, nil)
		steps = append(steps, Step{Did: fmt.Sprintf("remove %s from stream %s", server, s), Outcome: outcome(err)})
	}
	sys, err := c.admin(node, true)
	if err != nil {
		return steps, err
	}
	defer sys.Close()
	err = request(ctx, sys, "$JS.API.SERVER.REMOVE", map[string]string{"peer": server}, nil)
	steps = append(steps, Step{Did: fmt.Sprintf("remove %s from the meta group", server), Outcome: outcome(err)})
	err = wipe(n.Spec.DataDir())
	steps = append(steps, Step{Did: fmt.Sprintf("wipe %s's data", node), Outcome: outcome(err)})
	return steps, nil
}

// wipe removes everything inside dir, keeping dir itself (it may be a
// mount point).
func wipe(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
	}
	return errors.Join(errs...)
}

// Rejoin starts a node that is down under a fresh server name, which it
// keeps from now on: n1 becomes n1-2, then n1-3.
func (c *Cluster) Rejoin(node string) (string, error) {
	n := c.Node(node)
	if n == nil {
		return "", fmt.Errorf("no node %q", node)
	}
	if n.Running() {
		return "", fmt.Errorf("node %s is running", node)
	}
	n.generation++
	n.Spec.ServerName = fmt.Sprintf("%s-%d", n.Spec.Name, n.generation+1)
	if err := os.WriteFile(n.Spec.ConfigPath(), []byte(n.Spec.Config()), 0o644); err != nil {
		return "", fmt.Errorf("node %s config: %w", node, err)
	}
	return n.Spec.ServerName, n.Start()
}

// Replicas returns a stream's replica count.
func (c *Cluster) Replicas(ctx context.Context, stream string) (int, error) {
	nc, err := c.admin("", false)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	var info struct {
		Config map[string]any `json:"config"`
	}
	if err := request(ctx, nc, "$JS.API.STREAM.INFO."+stream, nil, &info); err != nil {
		return 0, fmt.Errorf("stream %s info: %w", stream, err)
	}
	r, _ := info.Config["num_replicas"].(float64)
	return int(r), nil
}

// SetReplicas changes a stream's replica count, keeping the rest of its
// configuration.
func (c *Cluster) SetReplicas(ctx context.Context, stream string, replicas int) error {
	nc, err := c.admin("", false)
	if err != nil {
		return err
	}
	defer nc.Close()
	var info struct {
		Config map[string]any `json:"config"`
	}
	if err := request(ctx, nc, "$JS.API.STREAM.INFO."+stream, nil, &info); err != nil {
		return fmt.Errorf("stream %s info: %w", stream, err)
	}
	info.Config["num_replicas"] = replicas
	if err := request(ctx, nc, "$JS.API.STREAM.UPDATE."+stream, info.Config, nil); err != nil {
		return fmt.Errorf("stream %s to R%d: %w", stream, replicas, err)
	}
	return nil
}
