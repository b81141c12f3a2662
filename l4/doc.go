// Package l4 owns TCP (layer 4) frontends: it accepts client connections,
// applies the frontend's admission checks (access list, rate limit, connection
// limits), picks a server with the backend's balancer, dials it off the event
// loop with the backend's connect timeout — trying the next server, at most
// once each, when a dial fails — and hands both connections to the engine,
// which pumps the bytes.
//
// l4 reports what happens through Hooks (metrics, access log and passive health
// are wired by internal/app); it never imports l7 or the configuration.
package l4
