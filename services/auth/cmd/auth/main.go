// Command auth runs the auth service.
package main

import (
	"ticketing/common/service"
	"ticketing/services/auth"
)

func main() { service.Main("auth", auth.LoadConfig, auth.Run) }
