package app

import (
	"context"
	"errors"

	"github.com/sluicelb/sluice/internal/state"
)

// change is the single change path (state.Control.Change).
func (a *App) change(ctx context.Context, c state.Change) (state.Result, error) {
	return state.Result{}, errors.New("not implemented yet")
}
