package anomaly

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Alert is one anomaly, firing or resolved. Value, Mean, Sigma and Z are
// from the latest sample (at resolution: the one that cleared it).
type Alert struct {
	Series   string     `json:"series"`
	State    string     `json:"state"` // "firing" or "resolved"
	Since    time.Time  `json:"since"`
	Resolved *time.Time `json:"resolved,omitempty"`
	Value    float64    `json:"value"`
	Mean     float64    `json:"mean"`
	Sigma    float64    `json:"sigma"`
	Z        float64    `json:"z"` // ±1.797e308 when the baseline was constant
	Help     string     `json:"help,omitempty"`
}

func (a *Alert) set(v verdict) {
	a.Value, a.Mean, a.Sigma, a.Z = jsonSafe(v.Value), jsonSafe(v.Mean), jsonSafe(v.Sigma), jsonSafe(v.Z)
}

// SeriesStatus is where one series stands. Samples 0 means its selector
// matched nothing yet (a family not registered, or no events).
type SeriesStatus struct {
	Name    string  `json:"name"`
	Samples uint64  `json:"samples"`
	Judged  bool    `json:"judged"` // the window holds MinSamples
	Firing  bool    `json:"firing"`
	Value   float64 `json:"value"`
	Mean    float64 `json:"mean"`
	Sigma   float64 `json:"sigma"`
	Z       float64 `json:"z"`
}

// Report is the body of GET /alerts.
type Report struct {
	Firing      []Alert        `json:"firing"`
	Resolved    []Alert        `json:"resolved"`
	Series      []SeriesStatus `json:"series"`
	GatherError string         `json:"gather_error,omitempty"`
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) // a failed write is the client's hang-up; nothing to tell it
}

// Fetch reads the Report from an agent's /alerts URL (for dorivo status).
func Fetch(ctx context.Context, c *http.Client, url string) (Report, error) {
	var r Report
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return r, fmt.Errorf("anomaly: fetch %s: %w", url, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return r, fmt.Errorf("anomaly: fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("anomaly: fetch %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&r); err != nil {
		return r, fmt.Errorf("anomaly: decode %s: %w", url, err)
	}
	return r, nil
}

// WriteText prints the firing alerts, one a line, for dorivo status.
func (r Report) WriteText(w io.Writer, now time.Time) error {
	if len(r.Firing) == 0 {
		_, err := fmt.Fprintf(w, "anomalies: none firing (%d series watched)\n", len(r.Series))
		return err
	}
	if _, err := fmt.Fprintf(w, "anomalies: %d firing\n", len(r.Firing)); err != nil {
		return err
	}
	for _, a := range r.Firing {
		if _, err := fmt.Fprintf(w, "  %s for %s: value %.4g, mean %.4g, sigma %.4g, z %.1f\n",
			a.Series, now.Sub(a.Since).Round(time.Second), a.Value, a.Mean, a.Sigma, a.Z); err != nil {
			return err
		}
	}
	return nil
}
