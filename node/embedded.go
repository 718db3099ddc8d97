package node

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerVersion is the version of the nats-server embedded in this binary.
const ServerVersion = server.VERSION

// RunEmbedded runs a nats-server from a config file in this process until it
// is told to stop (SIGTERM or SIGINT, handled as nats-server does) or until
// the process that started it is gone.
func RunEmbedded(configPath string) error {
	if _, err := os.Stat(configPath); err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	opts, err := server.ProcessConfigFile(configPath)
	if err != nil {
		return fmt.Errorf("config %s: %w", configPath, err)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("new server: %w", err)
	}
	s.ConfigureLogger()
	parent := os.Getppid()
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return errors.New("server was not ready for connections within 30s (see its log)")
	}
	// The kernel kills a node whose parent dies (parent-death signal); this
	// watch also covers a parent that is gone before that was armed.
	go func() {
		for {
			time.Sleep(500 * time.Millisecond)
			if os.Getppid() != parent {
				s.Shutdown()
				return
			}
		}
	}()
	s.WaitForShutdown()
	return nil
}
