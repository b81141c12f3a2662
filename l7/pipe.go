package l7

// toPipe moves the exchange off the event loop when a side cannot take
// what it is given (EAGAIN): toBackend and toClient are the bytes that did
// not fit. PROTOTYPE: the exchange is cut.
func (ex *exchange) toPipe(toBackend, toClient []byte) {
	ex.rec.Failure = FailReset
	ex.dropBackend()
	ex.closing = true
	ex.finish()
}
