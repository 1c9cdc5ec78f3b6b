package chatd

import (
	"context"
	"strings"
	"time"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/shared"
)

// genMaxText bounds what a traced attempt keeps of the answer's text (and of
// its reasoning): the Langfuse event carries at most 64 KiB of output JSON
// anyway (shared.Generation), so a long answer is not held twice in full.
const genMaxText = 64 << 10

// genTrace follows one attempt at a provider for Langfuse (ADR-005): each
// attempt of a request, failed or answered, is a generation of its trace.
// nil when Langfuse is off: every method is then a no-op.
type genTrace struct {
	ctx        context.Context
	g          shared.Generation
	content    strings.Builder
	thinking   strings.Builder
	calls      chat.ToolCallAssembler
	callBytes  int // names and arguments held in calls
	doneReason string
	recorded   bool
}

func newGenTrace(ctx context.Context, provider string, preq chat.ProviderRequest, start time.Time) *genTrace {
	if !shared.TracingGenerations(ctx) {
		return nil
	}
	params := map[string]any{}
	if preq.Temperature != nil {
		params["temperature"] = *preq.Temperature
	}
	if preq.MaxTokens != nil {
		params["max_tokens"] = *preq.MaxTokens
	}
	if preq.TopP != nil {
		params["top_p"] = *preq.TopP
	}
	if len(preq.Stop) > 0 {
		params["stop"] = strings.Join(preq.Stop, ", ")
	}
	if len(preq.Tools) > 0 {
		params["tools"] = len(preq.Tools)
	}
	return &genTrace{ctx: ctx, g: shared.Generation{
		Name: "chat " + provider, Model: preq.Model, ModelParameters: params,
		Input: preq.Messages, Start: start, Metadata: map[string]any{"provider": provider},
	}}
}

// firstToken marks the time to first token (Langfuse's completionStartTime).
func (t *genTrace) firstToken(at time.Time) {
	if t != nil {
		t.g.CompletionStart = at
	}
}

// add takes one streamed chunk of the answer.
func (t *genTrace) add(r chat.Response) {
	if t == nil {
		return
	}
	appendCapped(&t.content, r.Message.Content)
	appendCapped(&t.thinking, r.Message.Thinking)
	// Tool calls within the same bound as the text (ADR-107): the
	// generation's output is cut to 64 KiB anyway, and a call's arguments
	// may run to chat.MaxAnswerBytes, all of it held here until the end.
	if t.calls.Len() < 64 && t.callBytes < genMaxText {
		for _, d := range r.ToolCallDeltas {
			room := genMaxText - t.callBytes
			if room <= 0 {
				break
			}
			d.Arguments = d.Arguments[:min(len(d.Arguments), room)]
			t.callBytes += len(d.Name) + len(d.Arguments)
			t.calls.Add([]chat.ToolCallDelta{d})
		}
	}
	if r.Model != "" {
		t.g.Model = r.Model
	}
	if r.Done {
		t.doneReason = r.DoneReason
	}
	if r.Usage != nil {
		t.g.InputTokens, t.g.OutputTokens = r.Usage.PromptTokens, r.Usage.CompletionTokens
	}
}

func appendCapped(b *strings.Builder, s string) {
	if room := genMaxText - b.Len(); room > 0 {
		b.WriteString(s[:min(len(s), room)])
	}
}

// end records the attempt once: its answer so far, and errMsg when it
// failed (before its first token, or mid-answer).
func (t *genTrace) end(errMsg string) {
	if t == nil || t.recorded {
		return
	}
	t.recorded = true
	t.g.End = time.Now()
	if t.g.CompletionStart.After(t.g.End) {
		t.g.CompletionStart = t.g.End
	}
	if !t.g.CompletionStart.IsZero() {
		out := map[string]any{"role": chat.RoleAssistant, "content": t.content.String()}
		if t.thinking.Len() > 0 {
			out["reasoning"] = t.thinking.String()
		}
		if t.calls.Len() > 0 {
			out["tool_calls"] = t.calls.Calls()
		}
		t.g.Output = out
		if t.doneReason != "" {
			t.g.Metadata["finish_reason"] = t.doneReason
		}
	}
	t.g.Error = errMsg
	shared.RecordGeneration(t.ctx, t.g)
}
