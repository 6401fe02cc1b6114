module ticketing/infra/devstack

go 1.26.0

require ticketing/common v0.0.0

require (
	github.com/alicebob/miniredis/v2 v2.40.0 // indirect
	github.com/antithesishq/antithesis-sdk-go v0.8.0-default-no-op // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/google/go-tpm v0.9.8 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/minio/highwayhash v1.0.4 // indirect
	github.com/nats-io/jwt/v2 v2.8.2 // indirect
	github.com/nats-io/nats-server/v2 v2.15.2 // indirect
	github.com/nats-io/nkeys v0.4.16 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	github.com/redis/go-redis/v9 v9.23.0 // indirect
	github.com/yuin/gopher-lua v1.1.1 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/time v0.16.0 // indirect
	ticketing/services/auth v0.0.0
	ticketing/services/expiration v0.0.0
	ticketing/services/orders v0.0.0
	ticketing/services/payments v0.0.0
	ticketing/services/tickets v0.0.0
)

replace ticketing/common => ../../common

replace ticketing/services/auth => ../../services/auth

replace ticketing/services/tickets => ../../services/tickets

replace ticketing/services/orders => ../../services/orders

replace ticketing/services/expiration => ../../services/expiration

replace ticketing/services/payments => ../../services/payments
