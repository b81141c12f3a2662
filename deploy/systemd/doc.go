// Package systemd holds sluice.service, the systemd unit for Sluice
// (docs/deploy.md). It has no Go code: its tests check the unit's
// directives against what sluice does, run `systemd-analyze verify` and
// `systemd-analyze security` on it, and trace a running sluice to prove
// that the unit's system-call filter and address families allow every call
// it makes.
package systemd
