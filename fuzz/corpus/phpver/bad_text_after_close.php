<?php
return [
    'version' => '1.5.0',
];
?>

<p>Hello</p>
