package confedit

import "github.com/sluicelb/sluice/internal/state"

func ss(addr string, w int) state.ServerSpec { return state.ServerSpec{Address: addr, Weight: &w} }
