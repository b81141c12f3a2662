package config

// meta accessors used by the decoder and the validator.

func (x *Config) meta() *meta           { return &x.m }
func (x *Admin) meta() *meta            { return &x.m }
func (x *Logging) meta() *meta          { return &x.m }
func (x *AdminTLS) meta() *meta         { return &x.m }
func (x *AdminUser) meta() *meta        { return &x.m }
func (x *Frontend) meta() *meta         { return &x.m }
func (x *FrontendTimeouts) meta() *meta { return &x.m }
func (x *Limits) meta() *meta           { return &x.m }
func (x *Route) meta() *meta            { return &x.m }
func (x *RouteMatch) meta() *meta       { return &x.m }
func (x *HeaderRules) meta() *meta      { return &x.m }
func (x *Header) meta() *meta           { return &x.m }
func (x *Access) meta() *meta           { return &x.m }
func (x *RateLimit) meta() *meta        { return &x.m }
func (x *RateLimitMatch) meta() *meta   { return &x.m }
func (x *Backend) meta() *meta          { return &x.m }
func (x *BackendTimeouts) meta() *meta  { return &x.m }
func (x *Server) meta() *meta           { return &x.m }
func (x *Health) meta() *meta           { return &x.m }
func (x *ActiveHealth) meta() *meta     { return &x.m }
func (x *PassiveHealth) meta() *meta    { return &x.m }
func (x *FlapHealth) meta() *meta       { return &x.m }
func (x *Alert) meta() *meta            { return &x.m }
func (x *AlertScope) meta() *meta       { return &x.m }
func (x *AlertNotify) meta() *meta      { return &x.m }
func (x *BackendRateLimit) meta() *meta { return &x.m }
func (x *RateLimitStore) meta() *meta   { return &x.m }
func (x *FrontendTLS) meta() *meta      { return &x.m }
func (x *Certificate) meta() *meta      { return &x.m }
func (x *ACME) meta() *meta             { return &x.m }
func (x *BackendTLS) meta() *meta       { return &x.m }
func (x *Sticky) meta() *meta           { return &x.m }
