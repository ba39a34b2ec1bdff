package anomaly

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// postableAlert is Alertmanager's v2 API PostableAlert
// (api/v2/openapi.yaml: labels, annotations, startsAt, endsAt, generatorURL).
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// postable turns a into what Alertmanager takes. A firing alert ends
// 4 resends from now unless re-pushed (what Prometheus does), so a dead
// agent's alerts resolve on their own; a resolved one ends at its
// resolution.
func (d *Detector) postable(a Alert, now time.Time) postableAlert {
	end := now.Add(4 * d.cfg.ResendEvery)
	if a.Resolved != nil {
		end = *a.Resolved
	}
	labels := map[string]string{"alertname": "DorivoAnomaly", "series": a.Series, "severity": "warning"}
	if d.cfg.Instance != "" {
		labels["instance"] = d.cfg.Instance
	}
	summary := fmt.Sprintf("%s is %.1f sigma from its rolling mean (value %.4g, mean %.4g, sigma %.4g)", a.Series, a.Z, a.Value, a.Mean, a.Sigma)
	ann := map[string]string{"summary": summary}
	if a.Help != "" {
		ann["description"] = a.Help
	}
	return postableAlert{Labels: labels, Annotations: ann, StartsAt: a.Since, EndsAt: end}
}

// pusher posts batches of alerts from its own goroutine, so a slow or
// absent Alertmanager never delays sampling. A full queue drops the batch
// (the next resend carries firing alerts again).
type pusher struct {
	url    string
	client *http.Client
	log    *slog.Logger
	queue  chan []postableAlert
	done   chan struct{}

	mu     sync.Mutex // guards closed and sends on queue
	closed bool
}

func newPusher(base string, log *slog.Logger) (*pusher, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("anomaly: alertmanager URL %q: want http(s)://host[:port]", base)
	}
	p := &pusher{
		url:    strings.TrimSuffix(u.String(), "/") + "/api/v2/alerts",
		client: &http.Client{Timeout: 5 * time.Second},
		log:    log,
		queue:  make(chan []postableAlert, 8),
		done:   make(chan struct{}),
	}
	go p.loop()
	return p, nil
}

func (p *pusher) send(batch []postableAlert) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	select {
	case p.queue <- batch:
	default:
		p.log.Warn("anomaly: alertmanager queue full, batch dropped", "alerts", len(batch))
	}
}

// close stops the pusher once the queued batches are sent; later sends
// are dropped, and a second close is a no-op.
func (p *pusher) close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.queue)
	}
	p.mu.Unlock()
	<-p.done
}

func (p *pusher) loop() {
	defer close(p.done)
	for batch := range p.queue {
		if err := p.post(context.Background(), batch); err != nil {
			p.log.Warn("anomaly: push to alertmanager failed", "url", p.url, "alerts", len(batch), "err", err)
		}
	}
}

func (p *pusher) post(ctx context.Context, batch []postableAlert) error {
	body, err := json.Marshal(batch)
	if err != nil {
		return fmt.Errorf("encode alerts: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", strconv.Itoa(resp.StatusCode), strings.TrimSpace(string(msg)))
	}
	return nil
}
