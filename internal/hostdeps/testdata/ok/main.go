// Command ok prints ok. The fresh-root test builds it statically and runs
// it as the only file of an image, to prove a container starts on a
// bridge network of the freshly installed podman.
package main

import "fmt"

func main() { fmt.Println("ok") }
