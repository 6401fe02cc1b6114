// Command queue runs the waiting-room service.
package main

import (
	"ticketing/common/service"

	"ticketing/services/queue"
)

func main() { service.Main(queue.Name, queue.LoadConfig, queue.Run) }
