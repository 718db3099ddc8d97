package sshlab

// WriteClientKey writes a fresh private key that no host of any lab
// authorises: for tests of a refused key.
func WriteClientKey(path string) error {
	_, err := writeKey(path, "jetsam-unauthorised")
	return err
}
