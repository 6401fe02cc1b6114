// Command tickets runs the tickets service.
package main

import (
	"ticketing/common/service"
	"ticketing/services/tickets"
)

func main() { service.Main("tickets", tickets.LoadConfig, tickets.Run) }
