package server

import (
	"fmt"
	"log/slog"
)

// gnetLogger routes gnet's warnings and errors to the server's slog logger
// and drops its debug and info chatter (one "Launching gnet" line per loop).
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(string, ...any) {}
func (g gnetLogger) Infof(string, ...any)  {}
func (g gnetLogger) Warnf(f string, a ...any) {
	g.l.Warn("gnet: " + fmt.Sprintf(f, a...))
}
func (g gnetLogger) Errorf(f string, a ...any) {
	g.l.Error("gnet: " + fmt.Sprintf(f, a...))
}
func (g gnetLogger) Fatalf(f string, a ...any) {
	g.l.Error("gnet fatal: " + fmt.Sprintf(f, a...))
}
