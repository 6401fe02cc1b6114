// Command expiration runs the expiration service.
package main

import (
	"ticketing/common/service"

	"ticketing/services/expiration"
)

func main() { service.Main("expiration", expiration.LoadConfig, expiration.Run) }
